"""The words the bundled shop is written with: product types, motives and their clues.

Clues are chosen per (motive, kind of product): attribute phrases that fit the product and hint
at *why* it is bought without naming the activity or the person ("reflective trim", not
"running"). Several motives share some clues ("lightweight", "fragrance-free"), so a reader —
or an LLM — has to combine two or three clues to infer the motive.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """A surface product type: what a shallow model sees first."""

    name: str
    category: str
    kind: str  # the clue family: clues are written per (motive, kind)
    variants: tuple[str, ...]  # title words that vary within the type
    blurbs: tuple[str, ...]  # generic description sentences, true of every item of the type
    base_price: float


@dataclass(frozen=True)
class Motive:
    """A latent deep interest: the hidden reason behind a purchase."""

    key: str
    name: str  # the ground-truth wording (never shown to models)
    types: tuple[str, ...]
    use_case: tuple[str, ...]  # explicit lines that *do* name the activity (used rarely)
    palette: tuple[tuple[int, int, int], ...]  # colours its item images lean on


def _pt(name, category, kind, variants, blurbs, price):
    return ProductType(name, category, kind, tuple(variants.split("|")), tuple(blurbs), price)


PRODUCT_TYPES: dict[str, ProductType] = {p.name: p for p in [
    _pt("socks", "Clothing", "wearable", "Crew|Quarter|Ankle|No-Show",
        ["Sold as a three-pair pack in assorted colours.", "Machine washable and made to keep their shape."], 16),
    _pt("cap", "Clothing", "wearable", "Classic|Low-Profile|Six-Panel",
        ["An adjustable strap at the back fits most heads.", "The curved brim keeps glare out of the eyes."], 22),
    _pt("jacket", "Clothing", "wearable", "Shell|Hooded|Zip",
        ["A full-length zip and two hand pockets.", "Available in sizes XS to XXL."], 89),
    _pt("gloves", "Clothing", "wearable", "Full-Finger|Knit|Lined",
        ["An elastic cuff keeps them in place.", "Sold as one pair in three sizes."], 19),
    _pt("sunscreen", "Beauty", "skincare", "SPF 30|SPF 50|Broad-Spectrum",
        ["Broad-spectrum UVA and UVB protection.", "Apply fifteen minutes before sun exposure."], 14),
    _pt("moisturizer", "Beauty", "skincare", "Daily|Lightweight|Cream",
        ["Absorbs into the skin without a heavy feel.", "Comes in a 50 ml pump bottle."], 24),
    _pt("lip balm", "Beauty", "skincare", "Tinted|Classic|Stick",
        ["A twist-up stick that fits in any pocket.", "Keeps lips soft through the day."], 6),
    _pt("face wash", "Beauty", "skincare", "Gel|Foaming|Cream",
        ["Rinses clean without leaving residue.", "Use morning and evening on damp skin."], 12),
    _pt("water bottle", "Kitchen", "drinkware", "20 oz|24 oz|32 oz",
        ["The wide mouth fits ice cubes.", "A leak-proof lid with a carry loop."], 25),
    _pt("coffee mug", "Kitchen", "drinkware", "12 oz|14 oz|16 oz",
        ["A comfortable handle and a smooth rim.", "Dishwasher-safe on the top rack."], 18),
    _pt("headphones", "Electronics", "audio", "Over-Ear|On-Ear|Wireless",
        ["Bluetooth 5.3 pairing with most devices.", "Folds flat into the included case."], 79),
    _pt("earbuds", "Electronics", "audio", "True Wireless|In-Ear|Sport",
        ["A charging case adds extra hours of playback.", "Three sizes of ear tips included."], 59),
    _pt("bluetooth speaker", "Electronics", "audio", "Mini|Portable|Compact",
        ["Pairs in seconds and charges over USB-C.", "A built-in microphone for calls."], 45),
    _pt("desk lamp", "Home", "lighting", "LED|Swing-Arm|Clamp",
        ["An adjustable arm and head point light where you need it.", "Powered over USB or the wall adapter."], 39),
    _pt("night light", "Home", "lighting", "Plug-In|Rechargeable|Dimmable",
        ["Small enough to sit on a shelf or outlet.", "A warm glow that fills a corner of the room."], 17),
    _pt("throw blanket", "Home", "textile", "Knit|Fleece|Woven",
        ["Measures 50 by 60 inches.", "Soft on both sides and easy to fold away."], 35),
    _pt("bath towel", "Home", "textile", "Oversized|Quick-Dry|Classic",
        ["Sold as a set of two.", "Absorbent loops that stay soft wash after wash."], 29),
    _pt("pillowcase", "Home", "textile", "Standard|Queen|King",
        ["An envelope closure keeps the pillow inside.", "Sold as a pair."], 21),
    _pt("backpack", "Luggage", "bag", "20 L|28 L|Rolltop",
        ["Padded shoulder straps and a grab handle.", "A front pocket for small things."], 69),
    _pt("tote bag", "Luggage", "bag", "Canvas|Large|Everyday",
        ["Long handles fit over the shoulder.", "Folds flat when empty."], 19),
    _pt("pouch", "Luggage", "bag", "Zip|Small|Flat",
        ["A sturdy zip and a wrist loop.", "Holds the small things that get lost in a bag."], 13),
    _pt("kitchen scale", "Kitchen", "kitchen", "Digital|Slim|Precision",
        ["Weighs in grams and ounces with a tare button.", "Runs on two AAA batteries."], 22),
    _pt("food containers", "Kitchen", "kitchen", "Glass|Stackable|Set of 5",
        ["Lids snap on with four locking tabs.", "Nest inside each other when not in use."], 29),
    _pt("cutting board", "Kitchen", "kitchen", "Large|Reversible|Thin",
        ["Sized to fit beside the sink.", "Non-slip feet keep it steady."], 24),
    _pt("notebook", "Office", "paper", "A5|Hardcover|Softcover",
        ["Lay-flat binding and numbered pages.", "Thick paper that resists bleed-through."], 14),
    _pt("planner", "Office", "paper", "Weekly|Undated|Monthly",
        ["A ribbon bookmark and a back pocket.", "Sturdy covers that survive a bag."], 18),
    _pt("drawer organizer", "Home", "storage", "Bamboo|Modular|Expandable",
        ["Adjustable dividers fit most drawers.", "Wipes clean with a damp cloth."], 23),
]}

#: Clues per (motive, kind) — or per (motive, product type) where the kind's clues would not
#: fit that product. Shared phrases across motives are deliberate.
CLUES: dict[tuple[str, str], tuple[str, ...]] = {}


def _clues(motive: str, **by_kind: str) -> None:
    for kind, phrases in by_kind.items():
        CLUES[(motive, kind.replace("_", " "))] = tuple(p.strip() for p in phrases.split("|"))


def clues_for(motive: str, product_type: str) -> tuple[str, ...]:
    """The clue phrases an item of ``product_type`` bought for ``motive`` may carry."""
    specific = CLUES.get((motive, product_type))
    return specific if specific else CLUES[(motive, PRODUCT_TYPES[product_type].kind)]


_clues("marathon",
       wearable="reflective trim|moisture-wicking knit|flatlock seams|a featherweight build",
       skincare="sweat-resistant for 80 minutes|a non-greasy finish|water-resistant wear",
       drinkware="a squeeze-to-drink valve|a featherweight build|a hand strap that stays put",
       audio="secure ear hooks|an IPX5 sweat-proof rating|a featherweight build")
_clues("sensitive_skin",
       skincare="fragrance-free|dermatologist-tested|no added dyes or parabens|a pH-balanced formula",
       textile="hypoallergenic fibres|fragrance-free finishing|undyed organic cotton|a silky smooth weave")
_clues("home_studio",
       audio="a flat frequency response|a closed-back design|a detachable coiled cable",
       lighting="a flicker-free beam|a neutral 5000 K colour temperature|a low-glare diffuser",
       paper="pages ruled for lyrics and chords|a lay-flat spine that stays open on a stand",
       storage="slots sized for cables and adapters|a foam-lined tray")
_clues("new_parent",
       skincare="fragrance-free|tear-free and gentle|a pump that works one-handed",
       drinkware="a lid that works one-handed|keeps drinks warm for hours|spill-proof",
       lighting="a dim amber glow|a tap-to-dim top|a timer that fades out",
       textile="an extra-soft muslin weave|washes warm without pilling|hypoallergenic fibres",
       bag="a wipe-clean lining|a clip-on strap|insulated side pockets")
_clues("camping",
       wearable="a quick-dry weave|touchscreen fingertips|a packable stuff sack",
       skincare="water-resistant wear|insect-repellent ingredients|a travel-size tube",
       drinkware="double-wall steel|keeps drinks warm for hours|a dent-resistant powder coat",
       textile="a water-resistant underside|a packable stuff sack|rolls up with a strap",
       bag="a hydration sleeve|a rain cover|daisy-chain loops")
_clues("remote_work",
       drinkware="keeps drinks warm for hours|a non-slip base|a splash-proof lid",
       audio="a noise-cancelling boom microphone|all-day comfort cushions|a mute button on the cup",
       lighting="a flicker-free beam|a low-glare diffuser|a USB-C charging port in the base",
       paper="dated pages with time blocks|a to-do column on every page",
       storage="slots sized for cables and adapters|a phone stand built in")
_clues("yoga",
       wearable="grippy silicone soles|a seamless toe|a soft stretch knit",
       drinkware="a slim profile|a flip straw|a soft matte finish",
       audio="a calm chime alert|a soft fabric grille|a slim profile",
       textile="a non-slip silicone backing|a quick-dry weave|sized to drape over a mat",
       bag="a mat strap|a wet-dry pocket|a soft stretch knit")
_clues("coffee",
       drinkware="a thin ceramic lip|a wide base that holds heat|a matte glaze",
       textile="a chunky cable knit|a tassel trim|sized to wrap around the shoulders",
       kitchen="0.1 g precision|a built-in timer|airtight one-way valve lids")
_clues("bike_commute",
       wearable="reflective trim|a drop-tail hem|a windproof shell",
       drinkware="fits a standard cage|a squeeze-to-drink valve|a dust cap",
       audio="an open-ear design|an IPX5 sweat-proof rating|a wind-noise filter",
       bag="reflective trim|a rolltop seal|a padded laptop sleeve")
_clues("dorm",
       drinkware="microwave-safe|a splash-proof lid|a bright print",
       audio="a noise-cancelling mode|a fold-flat design|a long battery life",
       lighting="a clamp that fits a bunk rail|a USB-C charging port in the base|a compact base",
       textile="sized for an extra-long twin|a bright print|washes warm without pilling",
       storage="fits a narrow drawer|stacks without tools|a compact base")
_clues("garden",
       wearable="a wide brim|puncture-resistant palms|a breathable mesh panel",
       skincare="water-resistant wear|a stick that glides on dirty hands|a non-greasy finish",
       bag="a wipe-clean lining|a waxed canvas body|tool loops on the side",
       paper="grid pages for bed layouts|a pocket for seed packets|water-resistant covers")
_clues("carry_on",
       wearable="packs into its own pocket|a wrinkle-resistant knit|a featherweight build",
       drinkware="collapses flat|a featherweight build|a leak-proof twist cap",
       audio="a passive noise-isolating fit|a fold-flat design|a dual-device pairing",
       bag="fits under a seat|a clamshell opening|a clear liquids pocket")
_clues("puppy",
       textile="a chew-resistant weave|washes warm without pilling|a water-resistant underside",
       bag="a wipe-clean lining|a treat pocket|a clip for a leash",
       kitchen="airtight one-way valve lids|a scoop included|BPA-free",
       storage="a child-safe latch|fits a narrow drawer|wipes clean")
_clues("baking",
       kitchen="0.1 g precision|a flat glass platform|a juice groove|stacks without tools",
       paper="pages ruled for ingredients and steps|a conversion chart inside the cover")
_clues("better_sleep",
       wearable="a soft stretch knit|a loose non-binding cuff|brushed inner lining",
       audio="a timer that fades out|a soft fabric grille|a sound loop that never cuts",
       lighting="a dim amber glow|a timer that fades out|no blue light",
       textile="a silky smooth weave|a cooling bamboo blend|hypoallergenic fibres")
_clues("gaming",
       audio="a detachable boom microphone|low-latency 2.4 GHz mode|7.1 surround",
       lighting="RGB colour modes|a low-glare diffuser|a clamp that fits a desk edge",
       storage="slots sized for cables and adapters|RGB accent edges")
_clues("hiking",
       wearable="a merino wool blend|a quick-dry weave|a featherweight build|a windproof shell",
       skincare="water-resistant wear|sweat-resistant for 80 minutes|a travel-size tube",
       drinkware="a built-in filter|double-wall steel|a carabiner loop",
       bag="a hydration sleeve|a hip belt|trekking-pole loops")
_clues("quick_makeup",
       skincare="a sheer tint|a dewy finish|doubles as a primer|a mirror cap",
       bag="a mirror inside the flap|a wipe-clean lining|slots for brushes")
_clues("meal_prep",
       bag="insulated walls|fits five containers|an ice-pack sleeve",
       kitchen="portion markings|microwave-safe|stacks without tools|a juice groove",
       paper="a weekly menu grid|a tear-off shopping list")
_clues("elder_care",
       wearable="non-slip treads|a loose non-binding cuff|an easy-pull tab",
       drinkware="a weighted non-slip base|a large easy-grip handle|a spill-proof lid",
       lighting="a motion sensor|a dim amber glow|large easy-press buttons",
       textile="washes warm without pilling|a light weight that is easy to lift|a soft fleece",
       bag="a seven-day divider|large easy-pull zips",
       paper="large print|a medication log page")
_clues("eco",
       skincare="a plastic-free bar|a refillable tin|compostable packaging",
       drinkware="made from recycled steel|compostable packaging|a lifetime guarantee",
       bag="organic cotton canvas|made from recycled bottles|compostable packaging",
       kitchen="bamboo lids|plastic-free|a lifetime guarantee")

# product-specific clues, where a motive reaches a product its kind's clues do not fit
_clues("camping", cap="a packable brim|a quick-dry weave|a neck flap",
       jacket="a packable stuff sack|a quick-dry weave|a water-resistant shell",
       bluetooth_speaker="a dent-resistant body|a carabiner loop|a long battery life",
       cutting_board="a compact folding design|a juice groove|a carry strap")
_clues("bike_commute", cap="a thin profile that fits under a helmet|reflective trim|a wicking sweatband")
_clues("hiking", gloves="a merino wool blend|touchscreen fingertips|a windproof shell",
       lip_balm="SPF 15 protection|a travel-size tube|water-resistant wear")
_clues("dorm", bluetooth_speaker="a bright print|a long battery life|a compact base",
       planner="a bright print|dated pages with time blocks|a semester calendar")
_clues("quick_makeup", pillowcase="a silky smooth weave|a satin face that spares hair and skin")
_clues("better_sleep", moisturizer="an overnight formula|a calming chamomile scent|a rich cream texture",
       earbuds="a flat low-profile fit|a soft silicone wing|a timer that fades out")
_clues("eco", moisturizer="a refillable tin|compostable packaging|a glass jar")
_clues("home_studio", pouch="slots sized for cables and adapters|a padded divider|a foam-lined tray")
_clues("elder_care", gloves="a warm fleece lining|a loose non-binding cuff|an easy-pull tab")
_clues("marathon", face_wash="a cooling menthol finish|lifts sweat and sunscreen|a travel-size tube")


def _m(key, name, types, use_case, palette):
    return Motive(key, name, tuple(types.split("|")), tuple(use_case), tuple(palette))


MOTIVES: dict[str, Motive] = {m.key: m for m in [
    _m("marathon", "training for a first marathon",
       "socks|cap|sunscreen|lip balm|water bottle|earbuds|face wash",
       ["Made for long runs and race-day mornings."], [(230, 80, 40), (250, 200, 40)]),
    _m("sensitive_skin", "caring for sensitive skin",
       "face wash|moisturizer|sunscreen|lip balm|pillowcase|bath towel",
       ["A gentle pick for easily irritated skin."], [(240, 220, 230), (200, 230, 220)]),
    _m("home_studio", "setting up a home recording studio",
       "headphones|bluetooth speaker|desk lamp|notebook|drawer organizer|pouch",
       ["A fit for late sessions recording music at home."], [(40, 40, 60), (120, 60, 160)]),
    _m("new_parent", "a gift for new parents",
       "moisturizer|coffee mug|night light|throw blanket|tote bag",
       ["A thoughtful gift for a family with a newborn."], [(250, 210, 220), (190, 220, 250)]),
    _m("camping", "weekend camping trips",
       "gloves|sunscreen|water bottle|coffee mug|throw blanket|backpack|cap|jacket|bluetooth speaker|cutting board",
       ["Ready for nights at the campsite."], [(60, 110, 60), (150, 110, 60)]),
    _m("remote_work", "working from home all day",
       "coffee mug|headphones|desk lamp|notebook|planner|drawer organizer",
       ["Built for long days on video calls at a home desk."], [(90, 110, 130), (200, 200, 190)]),
    _m("yoga", "a calm daily yoga practice",
       "socks|water bottle|bluetooth speaker|bath towel|tote bag",
       ["Made for the yoga studio and the mat at home."], [(150, 190, 170), (230, 210, 190)]),
    _m("coffee", "a slow morning coffee ritual",
       "coffee mug|throw blanket|kitchen scale|food containers",
       ["For the pour-over coffee lover."], [(110, 70, 40), (220, 190, 150)]),
    _m("bike_commute", "commuting to work by bike",
       "jacket|gloves|water bottle|earbuds|backpack|cap",
       ["Made for riding to the office in traffic."], [(250, 230, 0), (40, 40, 40)]),
    _m("dorm", "moving into a first dorm room",
       "coffee mug|headphones|desk lamp|bath towel|pillowcase|drawer organizer|bluetooth speaker|planner|night light",
       ["A college move-in essential."], [(60, 120, 230), (250, 120, 120)]),
    _m("garden", "growing a kitchen garden",
       "cap|gloves|sunscreen|tote bag|notebook|planner",
       ["Handy in the vegetable beds."], [(100, 160, 60), (170, 120, 80)]),
    _m("carry_on", "travelling with carry-on luggage only",
       "socks|jacket|water bottle|earbuds|backpack|pouch|headphones",
       ["Made for flights with only a carry-on."], [(30, 60, 110), (180, 180, 190)]),
    _m("puppy", "bringing home a new puppy",
       "throw blanket|bath towel|tote bag|food containers|drawer organizer",
       ["A good match for a new dog in the house."], [(200, 150, 90), (120, 190, 220)]),
    _m("baking", "weekend baking projects",
       "kitchen scale|food containers|cutting board|notebook",
       ["A baker's companion for bread and cakes."], [(245, 235, 210), (200, 120, 90)]),
    _m("better_sleep", "sleeping better",
       "socks|bluetooth speaker|night light|throw blanket|pillowcase|moisturizer|earbuds",
       ["Helps you wind down before bed."], [(40, 50, 110), (140, 130, 190)]),
    _m("gaming", "competitive online gaming",
       "headphones|earbuds|desk lamp|drawer organizer",
       ["Made for long gaming sessions."], [(20, 20, 20), (0, 220, 120)]),
    _m("hiking", "day hikes in the hills",
       "socks|cap|jacket|sunscreen|water bottle|backpack|gloves|lip balm",
       ["Ready for the trail."], [(200, 90, 30), (70, 100, 70)]),
    _m("quick_makeup", "a five-minute makeup routine",
       "face wash|moisturizer|lip balm|pouch|pillowcase",
       ["For a quick everyday makeup look."], [(230, 120, 150), (250, 200, 180)]),
    _m("meal_prep", "weekly meal prep",
       "tote bag|kitchen scale|food containers|cutting board|planner",
       ["Makes Sunday meal prep easier."], [(90, 170, 90), (250, 250, 250)]),
    _m("elder_care", "caring for an aging parent",
       "socks|coffee mug|night light|throw blanket|pouch|planner|gloves",
       ["A practical help for an elderly parent."], [(150, 120, 170), (230, 220, 200)]),
    _m("eco", "a low-waste household",
       "face wash|water bottle|coffee mug|tote bag|food containers|cutting board|moisturizer",
       ["For a zero-waste home."], [(120, 140, 90), (210, 200, 170)]),
]}

#: Words that would give the motive away if they showed up in a title.
ACTIVITY_WORDS = ("run", "marathon", "race", "baby", "newborn", "parent", "studio", "camp",
                  "yoga", "bike", "cycl", "dorm", "college", "garden", "travel", "flight",
                  "puppy", "dog", "bak", "sleep", "gam", "hik", "trail", "makeup", "meal",
                  "elder", "senior", "zero-waste", "work from home", "office")

BRAND_SYLLABLES = ("Nor", "Vel", "Ash", "Bri", "Cor", "Dal", "Eve", "Fen", "Gal", "Hal",
                   "Iso", "Jun", "Kes", "Lum", "Mar", "Nex", "Oro", "Pel", "Quin", "Ros")
BRAND_ENDINGS = ("vale", "ford", "ix", "ara", "ton", "ly", "wick", "en", "ora", "um")
