"""Curated canonical answer sets A for the open-domain categorical tasks.

Plain data only; parsing rules (plurals, aliases, emoji normalisation) live in
lib.tasks. Every tuple is duplicate-free and holds canonical forms only:
lowercase singular for colors/fruits/animals/words, Capitalized for names,
bare emoji (no U+FE0F, no skin tone) for emoji. WORDS avoids filler words that
chatty replies contain ("word", "random", "here", ...), so that searching a
reply for members of A does not latch onto the preamble.
"""

from __future__ import annotations

# Common color names, lowercase ("gray" is canonical; "grey" is an alias in lib.tasks).
COLORS: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "violet", "pink",
    "brown", "black", "white", "gray", "turquoise", "teal", "magenta", "indigo",
    "gold", "silver", "beige", "maroon", "navy", "cyan", "lavender", "crimson",
    "olive", "coral", "amber", "lime", "aqua", "scarlet", "ivory", "tan",
    "peach", "mint", "burgundy", "fuchsia", "khaki", "chartreuse", "periwinkle",
    "emerald", "ruby", "sapphire", "cerulean", "azure", "mauve", "lilac",
    "ochre", "sienna", "charcoal", "cream", "plum", "salmon", "rose", "vermilion",
)

# Common fruits, lowercase singular; multi-word names keep their space ("dragon fruit").
FRUITS: tuple[str, ...] = (
    "apple", "banana", "mango", "kiwi", "dragon fruit", "orange", "pear",
    "peach", "plum", "cherry", "strawberry", "blueberry", "raspberry",
    "blackberry", "grape", "watermelon", "cantaloupe", "honeydew", "pineapple",
    "papaya", "guava", "lychee", "passion fruit", "pomegranate", "fig", "date",
    "apricot", "nectarine", "lemon", "lime", "grapefruit", "coconut", "avocado",
    "persimmon", "cranberry", "tangerine", "clementine", "mandarin", "kumquat",
    "starfruit", "jackfruit", "durian", "rambutan", "mangosteen", "quince",
    "gooseberry", "elderberry", "mulberry", "plantain", "tomato",
)

# Common animals, lowercase singular.
ANIMALS: tuple[str, ...] = (
    "elephant", "giraffe", "dolphin", "octopus", "penguin", "lion", "tiger",
    "bear", "wolf", "fox", "rabbit", "deer", "horse", "cow", "pig", "sheep",
    "goat", "cat", "dog", "mouse", "squirrel", "owl", "eagle", "hawk", "parrot",
    "flamingo", "peacock", "swan", "duck", "goose", "chicken", "turtle",
    "tortoise", "frog", "snake", "lizard", "crocodile", "alligator", "shark",
    "whale", "seal", "otter", "beaver", "raccoon", "panda", "koala", "kangaroo",
    "zebra", "hippopotamus", "rhinoceros", "cheetah", "leopard", "jaguar",
    "gorilla", "chimpanzee", "monkey", "sloth", "camel", "llama", "alpaca",
    "hedgehog", "bat", "butterfly", "bee", "ant", "spider", "jellyfish",
    "starfish", "crab", "lobster", "axolotl", "platypus", "capybara", "narwhal",
    "red panda", "polar bear", "moose", "bison", "hamster", "meerkat",
    "armadillo", "pangolin", "chameleon", "iguana", "salamander", "orca",
    "walrus", "ostrich", "toucan", "hummingbird", "raven", "lemur", "okapi",
    "quokka", "wombat", "hyena", "badger", "porcupine", "manatee", "seahorse",
    "squid", "snail", "ladybug", "dragonfly",
)

# First names, Capitalized, mixed genders and cultures; avoids names that are common words ("May", "Will").
FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Emma", "Liam", "Noah", "Sophia", "Ava", "Mia", "James", "Lily",
    "Ethan", "Aria", "Zara", "Luna", "Max", "Isabella", "Charlotte", "Amelia",
    "Harper", "Evelyn", "Abigail", "Emily", "Elizabeth", "Sofia", "Avery",
    "Ella", "Scarlett", "Grace", "Chloe", "Victoria", "Riley", "Nora", "Zoe",
    "Hannah", "Layla", "Leah", "Hazel", "Aurora", "Stella", "Maya", "Isla",
    "Nina", "Clara", "Alice", "Eleanor", "Sarah", "Rachel", "Jessica", "Olga",
    "Ingrid", "Freya", "Astrid", "Sakura", "Yuki", "Hana", "Mei", "Priya",
    "Ananya", "Aisha", "Fatima", "Amara", "Chiara", "Lucia", "Elena", "Camila",
    "Valentina", "Ximena", "Ines", "Leila", "Noor", "Zainab", "Ayesha",
    "Sienna", "Kai", "Oliver", "Elijah", "William", "Benjamin", "Lucas",
    "Henry", "Alexander", "Mason", "Michael", "Daniel", "Logan", "Jackson",
    "Sebastian", "Jack", "Aiden", "Owen", "Samuel", "Matthew", "Joseph", "Levi",
    "Mateo", "David", "John", "Wyatt", "Julian", "Luke", "Isaac", "Theodore",
    "Gabriel", "Anthony", "Dylan", "Leo", "Asher", "Christopher", "Andrew",
    "Thomas", "Ezra", "Hudson", "Charles", "Caleb", "Ryan", "Nathan", "Adrian",
    "Elias", "Aaron", "Felix", "Oscar", "Arjun", "Rohan", "Ravi", "Hiroshi",
    "Kenji", "Haruto", "Wei", "Mohammed", "Omar", "Ali", "Hassan", "Yusuf",
    "Ibrahim", "Kwame", "Kofi", "Chinedu", "Tariq", "Diego", "Carlos",
    "Javier", "Santiago", "Alejandro", "Pierre", "Louis", "Hugo", "Lars",
    "Sven", "Erik", "Finn", "Nikolai", "Dmitri", "Ivan", "Giovanni", "Marco",
    "Luca", "Jonas", "Emil", "Rafael", "Sam", "Alex", "Jordan", "Taylor",
    "Morgan", "Quinn", "Rowan", "Eli", "Jasper", "Silas", "Milo", "Theo",
    "Nova",
)

# Common English words (nouns, verbs, adjectives), lowercase; no filler words and no plural pairs.
WORDS: tuple[str, ...] = (
    # nouns: nature and places
    "serendipity", "apple", "ocean", "banana", "sun", "tree", "book", "river",
    "mountain", "dream", "light", "water", "fire", "earth", "wind", "cloud",
    "rain", "snow", "storm", "star", "moon", "sky", "forest", "garden",
    "flower", "leaf", "seed", "stone", "rock", "sand", "island", "beach",
    "valley", "desert", "lake", "bridge", "road", "city", "village", "meadow",
    "harbor", "orchard", "horizon", "galaxy", "planet", "comet", "universe",
    "rainbow", "breeze", "thunder", "lightning", "shadow", "echo", "nebula",
    # nouns: things
    "house", "window", "door", "table", "chair", "clock", "mirror", "candle",
    "key", "bottle", "cup", "bread", "cheese", "coffee", "tea", "honey",
    "sugar", "salt", "pepper", "music", "song", "piano", "guitar", "drum",
    "painting", "story", "poem", "paper", "pencil", "camera", "computer",
    "phone", "bicycle", "train", "ship", "boat", "airplane", "rocket", "map",
    "compass", "anchor", "feather", "puzzle", "riddle", "crystal", "diamond",
    "velvet", "silk", "marble", "copper", "castle", "dragon", "treasure",
    "umbrella", "blanket", "pillow", "basket", "kettle", "ladder", "balloon",
    # nouns: people, animals
    "friend", "family", "teacher", "doctor", "king", "queen", "knight",
    "butterfly", "elephant", "tiger", "penguin", "dolphin", "owl", "horse",
    # nouns: abstract
    "journey", "adventure", "secret", "mystery", "memory", "silence",
    "freedom", "courage", "wisdom", "kindness", "harmony", "balance", "energy",
    "gravity", "petrichor", "nostalgia", "labyrinth", "zephyr", "enigma",
    "euphoria", "tranquility", "solitude", "wanderlust", "cascade",
    "kaleidoscope", "symphony", "odyssey", "paradox", "reverie", "epiphany",
    "melancholy", "quintessence", "whisper",
    # adjectives
    "happy", "sad", "bright", "dark", "quiet", "loud", "gentle", "brave",
    "calm", "clever", "curious", "eager", "fierce", "fragile", "golden",
    "graceful", "humble", "jolly", "lucky", "mellow", "nimble", "proud",
    "rapid", "silent", "swift", "tender", "vivid", "warm", "wild", "wise",
    "ancient", "elegant", "fuzzy", "giant", "hollow", "lazy", "lively",
    "lonely", "mighty", "noble", "peaceful", "playful", "shiny", "sleepy",
    "smooth", "sturdy", "tiny", "vast", "zealous", "ephemeral", "luminous",
    "whimsical", "ethereal", "eloquent", "resilient", "serene", "radiant",
    "vibrant", "cozy", "mellifluous", "quixotic", "ineffable",
    # verbs
    "run", "jump", "swim", "dance", "sing", "laugh", "climb", "wander",
    "explore", "build", "create", "discover", "imagine", "travel", "write",
    "listen", "fly", "grow", "shine", "glow", "float", "drift", "sparkle",
    "bloom", "gather", "wonder", "believe", "breathe", "paint", "cook", "bake",
    "celebrate", "embrace", "flourish", "ignite", "inspire", "linger",
    "ponder", "roam", "soar", "thrive",
)

# Single emoji, stored bare: no variation selector U+FE0F and no skin-tone modifier.
EMOJI: tuple[str, ...] = (
    "😀", "😂", "🥳", "😊", "😍", "😎", "🤔", "😴", "🤩", "😇", "🙃", "😜",
    "🥰", "🤖", "👻", "👽", "💀", "🎃", "❤", "💙", "💚", "💜", "💛", "🧡",
    "🔥", "⭐", "🌟", "✨", "🌈", "☀", "🌙", "⚡", "❄", "🌊", "🌸", "🌻",
    "🌵", "🍀", "🍁", "🍎", "🍕", "🍔", "🍩", "🍦", "🍓", "🍉", "🥑", "🍌",
    "🐶", "🐱", "🦊", "🐼", "🐨", "🦁", "🐸", "🐙", "🦋", "🐢", "🦄", "🐝",
    "🐧", "🐳", "🚀", "🎉", "🎈", "🎁", "🎸", "🎨", "🎮", "⚽", "🏀", "🎲",
    "💎", "🔮", "🧩", "📚", "💡", "👍", "👋", "🙌", "👀", "🌍", "🍄", "🌺",
    "🦖", "🧠",
)

# Small core lists, one per open task, to show how much the choice of A sets a measure's level: a verdict
# should read the same over the core as over the full list. Colors: the eleven basic color terms (Berlin
# and Kay, 1969). Fruits and animals: the most familiar members of A. First names, words and emoji: the
# twelve members of A most frequent in English text (wordfreq 3.1.1, Zipf scale).
CORE: dict[str, tuple[str, ...]] = {
    "color": ("black", "white", "red", "green", "yellow", "blue", "brown", "purple", "pink", "orange", "gray"),
    "fruit": ("apple", "banana", "orange", "grape", "strawberry", "mango", "pineapple", "watermelon", "pear",
              "peach", "cherry", "lemon"),
    "animal": ("dog", "cat", "horse", "cow", "pig", "sheep", "lion", "tiger", "elephant", "bear", "rabbit",
               "monkey"),
    "first_name": ("John", "David", "James", "Michael", "William", "Thomas", "Jack", "Louis", "Charles", "Henry",
                   "Max", "Taylor"),
    "word": ("house", "family", "city", "water", "music", "believe", "run", "story", "book", "friend", "happy",
             "light"),
    "emoji": ("😂", "😍", "🤔", "😊", "🔥", "😎", "👍", "👀", "❤", "😀", "💜", "😜"),
}
