"""Reference wordings the scorer matches mined interests against, written apart from the panel.

Each motive has its ground-truth name plus two short descriptions in other words. They were
written without looking at the simulated panel's phrase bank (a test checks that no panel phrase
is a reference and no reference a panel phrase), so the panel meets the same test as a real LLM.
``HAND_LABELLED`` is a small sample of statements, written by hand in the styles LLMs answer in,
each labelled with the motive it names (or None): the matcher's threshold is chosen on it.
"""
from __future__ import annotations

from digr_utils.data.vocabulary import MOTIVES

#: Two descriptions per motive, in words other than its name and the panel's.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "marathon": ("running long distances to get ready for a race",
                 "a beginner runner building up to 42 kilometres"),
    "sensitive_skin": ("skin that reacts badly to harsh products", "gentle care for delicate skin"),
    "home_studio": ("making and recording music at home", "a home setup for recording audio"),
    "new_parent": ("buying for a family that just had a baby", "presents for a newborn's parents"),
    "camping": ("sleeping in a tent in the outdoors", "short trips to a campground"),
    "remote_work": ("a home office for full-time remote work",
                    "working remotely from a desk at home"),
    "yoga": ("practising yoga every day", "stretching and poses on a yoga mat"),
    "coffee": ("making coffee slowly each morning", "a morning coffee habit"),
    "bike_commute": ("cycling to work every day", "getting to the office by bicycle"),
    "dorm": ("a student's first college room", "moving into student accommodation"),
    "garden": ("growing your own vegetables and herbs", "vegetable gardening at home"),
    "carry_on": ("travelling light with only cabin baggage", "flying with just a small bag"),
    "puppy": ("a new puppy in the household", "caring for a young dog"),
    "baking": ("baking bread, cakes and pastries at home", "a home baker's weekend hobby"),
    "better_sleep": ("getting a good night's sleep", "sleeping more deeply and restfully"),
    "gaming": ("playing video games competitively online", "esports and online multiplayer games"),
    "hiking": ("hiking on hill and mountain paths", "walking outdoors for a whole day"),
    "quick_makeup": ("doing makeup quickly each morning", "a fast and simple makeup routine"),
    "meal_prep": ("preparing the week's meals in advance", "cooking meals ahead in batches"),
    "elder_care": ("caring for an elderly relative", "support for an ageing mother or father"),
    "eco": ("reducing waste and plastic at home", "an environmentally friendly household"),
}

#: The zero-shot taxonomy matcher's own entry per motive (:mod:`digr_utils.interests.taxonomy`):
#: a label (what it writes as the interest) and two glosses it matches description sentences
#: against. Written apart from the scorer's references and the panel's phrases (a test checks
#: that none is either), so the scorer does not grade the matcher against its own wording.
TAXONOMY: dict[str, tuple[str, str, str]] = {
    "marathon": ("marathon running", "race training runs and long runs",
                 "endurance running for a big race"),
    "sensitive_skin": ("delicate-skin care", "skin prone to irritation and redness",
                       "mild products for reactive skin"),
    "home_studio": ("home music recording", "audio production and songwriting in a spare room",
                    "microphones, monitors and recording sessions"),
    "new_parent": ("newborn gifts", "a present after a baby is born",
                   "baby shower and new family presents"),
    "camping": ("tent camping", "campsites, campfires and nights outdoors",
                "a weekend trip sleeping under canvas"),
    "remote_work": ("home-office work", "a full workday at a desk in the house",
                    "video calls and remote jobs"),
    "yoga": ("yoga practice", "poses, breathing and flexibility on a mat",
             "a regular yoga and stretching session"),
    "coffee": ("coffee brewing", "pour-over, espresso and careful morning brews",
               "a coffee lover's morning"),
    "bike_commute": ("cycling commute", "riding a bicycle to the workplace",
                     "a daily commute on two wheels through town"),
    "dorm": ("college dorm life", "a student's small campus room",
             "freshman year in university housing"),
    "garden": ("vegetable growing", "tomatoes, herbs and raised beds in the yard",
               "a home vegetable patch"),
    "carry_on": ("carry-on travel", "packing everything into one cabin bag",
                 "short flights without checked luggage"),
    "puppy": ("puppy raising", "a young dog settling into the home",
              "training and caring for a puppy"),
    "baking": ("home baking", "bread, cakes and pastry made in your own oven",
               "weighing flour and proofing dough"),
    "better_sleep": ("sleep quality", "a restful night and an easy bedtime",
                     "falling asleep and staying asleep"),
    "gaming": ("online gaming", "competitive multiplayer matches and esports",
               "long sessions of video games with a team"),
    "hiking": ("hill hiking", "long walks on mountain trails",
               "a day on foot in the hills"),
    "quick_makeup": ("speedy makeup", "a makeup look done in a few minutes",
                     "minimal everyday cosmetics in a rush"),
    "meal_prep": ("meal preparation", "cooking a week of lunches in one go",
                  "portioning home-cooked food for the week"),
    "elder_care": ("senior care", "helping an older parent at home",
                   "daily support for an elderly family member"),
    "eco": ("zero-waste living", "cutting plastic and throwing less away",
            "a sustainable, low-impact home"),
}

#: Per motive: its ground-truth name, then its descriptions.
REFERENCES: dict[str, tuple[str, ...]] = {
    key: (motive.name, *DESCRIPTIONS[key]) for key, motive in MOTIVES.items()}

#: Statements written by hand in the way LLMs answer (right motives in new words, product
#: echoes, vague phrases, near misses), each with the motive it names or None.
HAND_LABELLED: tuple[tuple[str, str | None], ...] = (
    ("training for a half or full marathon", "marathon"),
    ("a runner preparing for race day", "marathon"),
    ("someone whose skin gets red and itchy easily", "sensitive_skin"),
    ("a mild cleanser for reactive skin", "sensitive_skin"),
    ("recording a podcast or songs at home", "home_studio"),
    ("a baby shower gift", "new_parent"),
    ("nights under the stars in a tent", "camping"),
    ("working from a home desk on video calls", "remote_work"),
    ("a yoga class at the studio", "yoga"),
    ("brewing a careful cup of coffee in the morning", "coffee"),
    ("riding a bike through the city to work", "bike_commute"),
    ("a freshman moving into a residence hall", "dorm"),
    ("planting tomatoes in a backyard vegetable plot", "garden"),
    ("air travel with one small bag", "carry_on"),
    ("a new dog that needs training", "puppy"),
    ("baking sourdough at the weekend", "baking"),
    ("falling asleep more easily at night", "better_sleep"),
    ("online multiplayer gaming marathons", "gaming"),
    ("long walks on mountain trails", "hiking"),
    ("a quick makeup look before work", "quick_makeup"),
    ("prepping lunches for the whole week", "meal_prep"),
    ("helping an elderly father live independently", "elder_care"),
    ("avoiding single-use plastic", "eco"),
    ("wants a good water bottle", None),
    ("needs a new kitchen scale", None),
    ("a slim design", None),
    ("likes the brand", None),
    ("reflective trim", None),
    ("a high quality product", None),
    ("good value for money", None),
    ("buys headphones", None),
    ("a stylish everyday accessory", None),
    ("keeping things organized", None),
    ("a gift for someone special", None),
    ("staying comfortable", None),
    ("a durable backpack with padded straps", None),
    ("soft and warm fabric", None),
    ("enjoys music", None),
    ("a fragrance-free formula", None),
    ("a lightweight build for everyday use", None),
)
