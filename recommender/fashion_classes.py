"""The fashion class vocabulary of the detector and how other label sets map onto it.

Three sources name fashion items differently: catalog categories (Myntra's
masterCategory/subCategory/articleType), the street photos' coarse classes (Clothing
Co-Parsing, derived/labels.csv) and ImageNet classes (for the zero-shot detector). Each maps
to one of `FASHION_CLASSES`, or to nothing when the item is not something the shop sells as a
detectable garment (skin, hair, underwear, perfume).
"""

from __future__ import annotations

from collections.abc import Mapping

# Order is part of a trained checkpoint's contract: the head's rows follow it.
FASHION_CLASSES: tuple[str, ...] = (
    "footwear",
    "bag",
    "top",
    "bottom",
    "dress",
    "outerwear",
    "eyewear",
    "headwear",
    "legwear",
    "accessory",
)

# The classes BASELINES.md averages CorLoc over (outerwear is left out: its labels are loose).
CORLOC_CLASSES: tuple[str, ...] = ("footwear", "bag", "top", "bottom", "dress", "eyewear")

STREET_COARSE_TO_FASHION: Mapping[str, str] = {
    "footwear": "footwear",
    "bag": "bag",
    "top": "top",
    "bottom": "bottom",
    "dress_onepiece": "dress",
    "outerwear": "outerwear",
    "eyewear": "eyewear",
    "headwear": "headwear",
    "legwear": "legwear",
    "jewellery_watch": "accessory",
    "accessory_other": "accessory",
    # underwear_swim and not_garment map to nothing.
}

# articleType wins over subCategory, which wins over masterCategory.
CATALOG_ARTICLE_TYPE_TO_FASHION: Mapping[str, str] = {
    "Dresses": "dress",
    "Jackets": "outerwear",
    "Waistcoat": "outerwear",
    "Shrug": "outerwear",
    "Stockings": "legwear",
    "Tights": "legwear",
    "Socks": "legwear",
    "Leggings": "bottom",
    "Capris": "bottom",
    "Kurtas": "top",
    "Kurtis": "top",
    "Tunics": "top",
    "Sarees": "dress",
    "Watches": "accessory",
}
CATALOG_SUBCATEGORY_TO_FASHION: Mapping[str, str] = {
    "Topwear": "top",
    "Bottomwear": "bottom",
    "Dress": "dress",
    "Shoes": "footwear",
    "Sandal": "footwear",
    "Flip Flops": "footwear",
    "Bags": "bag",
    "Wallets": "bag",
    "Eyewear": "eyewear",
    "Headwear": "headwear",
    "Socks": "legwear",
    "Watches": "accessory",
    "Belts": "accessory",
    "Ties": "accessory",
    "Scarves": "accessory",
    "Mufflers": "accessory",
    "Stoles": "accessory",
    "Gloves": "accessory",
    "Jewellery": "accessory",
    "Cufflinks": "accessory",
}
CATALOG_MASTER_CATEGORY_TO_FASHION: Mapping[str, str] = {"Footwear": "footwear"}

# ImageNet-1k class index -> fashion class, for the zero-shot CAM detector. The first groups
# are exactly the classes BASELINES.md used; the additions (marked) are unambiguous garments.
IMAGENET_TO_FASHION: Mapping[int, str] = {
    # footwear: running shoe, sandal, loafer, cowboy boot, clog
    770: "footwear",
    774: "footwear",
    630: "footwear",
    514: "footwear",
    502: "footwear",
    # bag: purse, backpack, mailbag
    748: "bag",
    414: "bag",
    636: "bag",
    # top: jersey (T-shirt), sweatshirt, cardigan
    610: "top",
    841: "top",
    474: "top",
    # bottom: jean, miniskirt, overskirt
    608: "bottom",
    655: "bottom",
    689: "bottom",
    # dress: gown, hoopskirt
    578: "dress",
    601: "dress",
    # outerwear: trench coat, fur coat, suit, poncho
    869: "outerwear",
    568: "outerwear",
    834: "outerwear",
    735: "outerwear",
    # eyewear: sunglass, sunglasses
    836: "eyewear",
    837: "eyewear",
    # headwear: cowboy hat, sombrero, bonnet
    515: "headwear",
    808: "headwear",
    452: "headwear",
    # additions: abaya (dress), sarong (bottom), stole (accessory), bow tie (accessory)
    399: "dress",
    775: "bottom",
    824: "accessory",
    457: "accessory",
}
# The zero-shot baseline of BASELINES.md, without the additions above.
BASELINE_IMAGENET_TO_FASHION: Mapping[int, str] = {
    index: name for index, name in IMAGENET_TO_FASHION.items() if index not in {399, 775, 824, 457}
}


def street_coarse_to_fashion(coarse_class: str) -> str | None:
    """A street coarse class (derived/labels.csv) -> fashion class, or None."""
    return STREET_COARSE_TO_FASHION.get(coarse_class)


def catalog_to_fashion(master_category: str, sub_category: str, article_type: str) -> str | None:
    """A catalog product's categories -> its fashion class, or None (perfume, free gifts...)."""
    for table, key in (
        (CATALOG_ARTICLE_TYPE_TO_FASHION, article_type),
        (CATALOG_SUBCATEGORY_TO_FASHION, sub_category),
        (CATALOG_MASTER_CATEGORY_TO_FASHION, master_category),
    ):
        if key in table:
            return table[key]
    return None


def imagenet_groups(
    mapping: Mapping[int, str] = IMAGENET_TO_FASHION,
    classes: tuple[str, ...] = FASHION_CLASSES,
) -> list[list[int]]:
    """For each fashion class, in vocabulary order, the ImageNet indices mapped to it."""
    unknown = set(mapping.values()) - set(classes)
    if unknown:
        raise ValueError(f"mapping names classes outside the vocabulary: {sorted(unknown)}")
    return [sorted(index for index, name in mapping.items() if name == cls) for cls in classes]
