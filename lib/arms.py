"""The arms of 04 on one task: params -> recipes (a step and learning-rate grid included), every recipe x seed
trained or read back (lib.grpo trains one run), the spread recipe selected on the trained task alone, and the
arms table.

Runs in the notebook (one process: CPU or one GPU) or under `accelerate launch` for several GPUs:
    accelerate launch --config_file params/accelerate/zero3.yaml -m lib.arms --profile qwen3-30b-a3b
trains every recipe and seed of the profile's 04 params; the notebook run afterwards finds the finished
adapters and reads them back instead of training again.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from lib import grpo, models
from lib.conditions import adapter_dir
from lib.recipes import Recipe
from lib.rewards import DIRECT_OBJECTIVES
from lib.tasks import Task


def recipes_from_params(recipes: dict, grid: dict | None = None) -> list[Recipe]:
    """Recipes from params (already validated by lib.config); a recipe named in `grid` becomes one recipe per
    (learning_rate, steps), named <recipe>_lr<lr>_s<steps>, in place of the recipe itself."""
    out = []
    for name, spec in recipes.items():
        base = Recipe(name=name, **{**spec, "seeds": tuple(spec.get("seeds", (0,)))})
        axes = (grid or {}).get(name)
        if not axes:
            out.append(base)
            continue
        for lr in axes.get("learning_rate", [base.learning_rate]):
            for steps in axes.get("steps", [base.steps]):
                out.append(replace(base, name=f"{name}_lr{lr:g}_s{steps}", learning_rate=float(lr), steps=int(steps)))
    unknown = sorted(set(grid or {}) - set(recipes))
    if unknown:
        raise ValueError(f"grid names recipe(s) {unknown} that params do not define; recipes: {', '.join(recipes)}")
    return out


def prefix_run(recipe: Recipe, recipes: list[Recipe], seed: int) -> Recipe | None:
    """The longest recipe whose first `recipe.steps` steps are this recipe's run, if any: under a constant learning
    rate a run of N steps is the first N steps of a longer run with the same settings and seed."""
    if recipe.lr_schedule != "constant":
        return None
    same = lambda r: {**asdict(r), "name": "", "steps": 0, "seeds": ()} == {**asdict(recipe), "name": "", "steps": 0, "seeds": ()}  # noqa: E731
    longer = [r for r in recipes if r.steps > recipe.steps and seed in r.seeds and same(r)]
    return max(longer, key=lambda r: r.steps) if longer else None


def finished_log(recipe: Recipe, seed: int, task: Task, spec: models.ModelSpec, run_dir: Path,
                 generation: dict | None) -> pd.DataFrame | None:
    """The training log of a finished adapter that matches the recipe, or None."""
    done = adapter_dir(run_dir, recipe.name, seed)
    if grpo.read_json(done / "recipe.json") != grpo.recipe_identity(recipe, seed, task, spec, generation):
        return None
    return pd.read_csv(done / "training_log.csv").rename(columns={"seed": "train_seed"})


def publish_prefix(recipe: Recipe, longer: Recipe, seed: int, task: Task, spec: models.ModelSpec, run_dir: Path,
                   log: pd.DataFrame, keep_steps: tuple[int, ...], generation: dict | None) -> pd.DataFrame | None:
    """Publish `recipe` (seed) from the checkpoints of the longer run it is the beginning of; None if they are gone."""
    checkpoints = grpo.checkpoint_dir(run_dir, longer.name, seed)
    kept = [s for s in keep_steps if 0 < s < recipe.steps]
    needed = [checkpoints / f"checkpoint-{s}" for s in (*kept, recipe.steps)]
    if not all(p.exists() for p in needed):
        return None
    out = adapter_dir(run_dir, recipe.name, seed)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    if not grpo.copy_adapter_files(needed[-1], tmp):
        return None
    own_log = log[log["step"] <= recipe.steps].assign(recipe=recipe.name).reset_index(drop=True)
    grpo.finish_adapter(tmp, out, grpo.recipe_identity(recipe, seed, task, spec, generation), own_log, checkpoints, kept)
    return own_log


def train_all(spec: models.ModelSpec, task: Task, recipes: list[Recipe], run_dir: Path,
              eval_every: int, save_every: int, generation: dict | None = None,
              dose_steps: tuple[int, ...] = ()) -> pd.DataFrame:
    """Every recipe × seed. A finished adapter is read back, not retrained; an interrupted one resumes. A recipe
    that is the beginning of a longer one (a step grid under a constant learning rate) is published from the
    longer run's checkpoints."""
    logs: dict[tuple[str, int], pd.DataFrame] = {}
    for recipe in sorted(recipes, key=lambda r: -r.steps):          # longer runs first: shorter ones reuse them
        for seed in recipe.seeds:
            log = finished_log(recipe, seed, task, spec, run_dir, generation)
            longer = prefix_run(recipe, recipes, seed)
            if log is None and longer is not None and (longer.name, seed) in logs:
                log = publish_prefix(recipe, longer, seed, task, spec, run_dir, logs[(longer.name, seed)],
                                     tuple(dose_steps), generation)
            if log is None:
                shorter = tuple(r.steps for r in recipes if prefix_run(r, recipes, seed) == recipe)
                print(f"training {recipe.name} seed {seed} ({recipe.steps} steps, {recipe.reward})", flush=True)
                log = grpo.train(spec, task, recipe, seed, run_dir, eval_every, save_every, generation=generation,
                            keep_steps=tuple(sorted(set(dose_steps) | set(shorter))))[1]
            logs[(recipe.name, seed)] = log
    return pd.concat([logs[(r.name, s)] for r in recipes for s in r.seeds if (r.name, s) in logs], ignore_index=True)


def final_points(logs: pd.DataFrame) -> pd.DataFrame:
    """Per recipe and seed: exact TV and raw mass before training and at the last measurement, and the valid rate
    of the last 10 steps."""
    rows = []
    for (recipe, seed), log in logs.groupby(["recipe", "train_seed"], sort=False):
        measured = log.dropna(subset=["exact_tv"])
        last = measured.iloc[-1] if len(measured) else None
        valid = log["valid_rate"].dropna() if "valid_rate" in log else pd.Series(dtype=float)
        rows.append(dict(recipe=recipe, train_seed=seed, steps=int(log["step"].max()),
                         start_exact_tv=measured.iloc[0]["exact_tv"] if len(measured) else float("nan"),
                         exact_tv=last["exact_tv"] if last is not None else float("nan"),
                         raw_mass=last["raw_mass"] if last is not None else float("nan"),
                         valid_rate_last10=valid.tail(10).mean() if len(valid) else float("nan")))
    return pd.DataFrame(rows)


def select_recipe(final: pd.DataFrame, control: str, min_valid_mass: float, roles: dict[str, str] | None = None,
                  chosen: str | None = None) -> pd.DataFrame:
    """Choose the spread recipe on the trained task alone: lowest mean exact TV among the spread recipes (`roles`:
    recipe -> Recipe.role; without it every recipe but the control) whose mean raw valid mass reaches
    min_valid_mass; if none does, the lowest TV among them. `chosen` keeps an earlier choice (made on the
    screening seeds) while the table shows every seed trained since.

    Column `role`: selected (the chosen one), control (the control recipe), ablation (another spread recipe), or
    the recipe's own role (placebo, reverse, format, reference); `recipe_role` is always the recipe's own."""
    roles = roles or {}
    role_of = lambda r: roles.get(r, "control" if r == control else "spread")   # noqa: E731
    table = final.groupby("recipe", sort=False).agg(seeds=("train_seed", "nunique"), exact_tv=("exact_tv", "mean"),
                                                    raw_mass=("raw_mass", "mean")).reset_index()
    table["recipe_role"] = [role_of(r) for r in table["recipe"]]
    candidates = table[(table["recipe_role"] == "spread") & (table["recipe"] != control)]
    if candidates.empty:
        raise ValueError(f"no spread recipe besides the control {control!r}: add one with role: spread to params")
    eligible = candidates[candidates["raw_mass"] >= min_valid_mass]
    pool, reason = (eligible, f"lowest exact TV with raw valid mass >= {min_valid_mass}") if len(eligible) else \
        (candidates, f"lowest exact TV (no spread recipe reached raw valid mass {min_valid_mass})")
    if chosen is None:
        chosen = pool.sort_values("exact_tv").iloc[0]["recipe"]
    else:
        reason += ", on the screening seeds"
    table["role"] = ["control" if r == control else "selected" if r == chosen else
                     "ablation" if role == "spread" else role for r, role in zip(table["recipe"], table["recipe_role"])]
    table["reason"] = [reason if r == chosen else "" for r in table["recipe"]]
    return table


def train_arms(spec: models.ModelSpec, task: Task, recipes: list[Recipe], run_dir: Path, control: str,
               min_valid_mass: float, eval_every: int, save_every: int, generation: dict | None = None,
               dose_steps: tuple[int, ...] = (), selected_seeds: tuple[int, ...] = ()
               ) -> tuple[list[Recipe], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every arm: train every recipe on its seeds, select the spread recipe on the trained task, then train the
    selected one on `selected_seeds` too. Returns (recipes as trained, logs, final points, selection)."""
    if control not in {r.name for r in recipes}:
        raise ValueError(f"control_recipe {control!r} is not a recipe; recipes: {', '.join(r.name for r in recipes)}")
    roles = {r.name: r.role for r in recipes}
    logs = train_all(spec, task, recipes, run_dir, eval_every, save_every, generation, dose_steps)
    screen = select_recipe(final_points(logs), control, min_valid_mass, roles)
    chosen = screen.loc[screen["role"] == "selected", "recipe"].item()
    recipe = next(r for r in recipes if r.name == chosen)
    extra = tuple(s for s in selected_seeds if s not in recipe.seeds)
    if extra:
        recipes = [replace(r, seeds=(*r.seeds, *extra)) if r.name == chosen else r for r in recipes]
        more = train_all(spec, task, [replace(recipe, seeds=extra)], run_dir, eval_every, save_every, generation,
                         dose_steps)
        logs = pd.concat([logs, more], ignore_index=True)
    final = final_points(logs)
    return recipes, logs, final, select_recipe(final, control, min_valid_mass, roles, chosen if extra else None)


def arms_table(recipes: list[Recipe], final: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: recipe, role, reward, learning rate, steps, seeds, and the trained task's exact TV and raw
    valid mass before and after training (means over seeds)."""
    roles = selection.set_index("recipe")["role"].to_dict()
    rows = []
    for r in recipes:
        mine = final[final["recipe"] == r.name]
        sampled = r.reward not in DIRECT_OBJECTIVES       # the direct objectives sample nothing
        rows.append(dict(recipe=r.name, role=roles.get(r.name, r.role), reward=r.reward, lr=r.learning_rate,
                         schedule=r.lr_schedule, steps=r.steps, G=r.num_generations if sampled else None,
                         groups=r.groups_per_step if sampled else None,
                         seeds=len(mine), start_exact_tv=mine["start_exact_tv"].mean(), exact_tv=mine["exact_tv"].mean(),
                         exact_tv_min=mine["exact_tv"].min(), exact_tv_max=mine["exact_tv"].max(),
                         raw_mass=mine["raw_mass"].mean()))
    return pd.DataFrame(rows).astype({"G": "Int64", "groups": "Int64"})


def main(argv: list[str] | None = None) -> int:
    """Train every arm of a profile's 04 params (resuming from checkpoints), e.g. on several GPUs:
    accelerate launch --config_file params/accelerate/zero3.yaml -m lib.arms --profile qwen3-30b-a3b"""
    import argparse
    from lib import config, tasks

    parser = argparse.ArgumentParser(prog="python -m lib.arms", description=main.__doc__)
    parser.add_argument("--profile", required=True, help="a directory under params/, e.g. qwen3-30b-a3b")
    parser.add_argument("--recipes", help="comma list of recipe names: train only these, without selection "
                                          "(default: every arm, with selection)")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile, "04")
    recipes = recipes_from_params(cfg.recipes, cfg.params.get("grid"))
    task = tasks.get(cfg.task)
    dose_steps = tuple(cfg.params.get("dose_steps", ()))
    if args.recipes:
        wanted = args.recipes.split(",")
        unknown = sorted(set(wanted) - {r.name for r in recipes})
        if unknown:
            parser.error(f"unknown recipe(s) {unknown}; the profile has: {', '.join(r.name for r in recipes)}")
        logs = train_all(cfg.model, task, [r for r in recipes if r.name in wanted], cfg.run_dir, cfg.eval_every,
                         cfg.save_every, cfg.params.get("generation"), dose_steps)
        final = final_points(logs)
    else:
        _, _, final, _ = train_arms(cfg.model, task, recipes, cfg.run_dir, cfg.control_recipe, cfg.min_valid_mass,
                                    cfg.eval_every, cfg.save_every, cfg.params.get("generation"), dose_steps,
                                    tuple(cfg.params.get("selected_seeds", ())))
    if int(os.environ.get("RANK", "0")) == 0:
        print(final.to_string(index=False))
        print(f"adapters under {cfg.run_dir / 'adapters'}; notebook 04 reads them back (make report "
              f"PROFILE={args.profile} NB=04)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
