"""The FAO-ICC taxonomy of Sen4AgriNet (seed 004, Sec. V-A) and the nomenclature remappings."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.data.taxonomy import (
    CropTaxonomy,
    Nomenclature,
    encode_codes,
    load_faoicc,
    load_nomenclature,
    select_common_classes,
)

# seed 004, Sec. VI: the 11 experiment classes, in code order (ids 1..11).
S4A_CODES = [110, 120, 140, 150, 160, 170, 330, 435, 438, 510, 770]
PACKAGED = ["pastis", "multisenge", "sen4agrinet", "finistere"]


@pytest.fixture(scope="module")
def tax() -> CropTaxonomy:
    return load_faoicc()


def test_csv_loads_with_documented_counts(tax: CropTaxonomy) -> None:
    # docs/taxonomy.md: 168 entries = 9 groups + 54 classes + 105 subclasses.
    assert len(tax) == 168
    assert tax.levels.count("group") == 9
    assert tax.levels.count("class") == 54
    assert tax.levels.count("subclass") == 105
    assert tax.groups() == tuple(range(100, 1000, 100))
    assert tax.name_of(435) == "Rapeseed"
    assert tax.level_of(998) == "class" and tax.parent_of(998) == 900
    assert tax.level_of(630) == "subclass" and tax.parent_of(630) == 620
    assert tax.parent_of(100) is None
    assert 0 not in tax and 435 in tax
    # seed 004 Sec. V-A: 4 CLC land-use entries, fallow, barren, no-data (971..977).
    assert tax.children(970) == (971, 972, 973, 974, 975, 976, 977)
    assert tax.children(430) == tuple(range(431, 440))


def test_hierarchy_is_consistent(tax: CropTaxonomy) -> None:
    for code, level, parent in zip(tax.codes, tax.levels, tax.parents, strict=True):
        if level == "group":
            assert parent is None and code % 100 == 0
            continue
        assert parent in tax
        assert tax.level_of(parent) == ("group" if level == "class" else "class")
        assert tax.lineage(code)[-1] == code // 100 * 100  # the group is the hundreds
    # the CSV's group column agrees with the parents
    text = (resources.files("sitsfusion.data") / "nomenclatures" / "faoicc.csv").read_text()
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert len(rows) == 168
    assert all(tax.lineage(int(r[0]))[-1] == int(r[-1]) for r in rows)


def test_to_level_on_uint32_raster(tax: CropTaxonomy) -> None:
    raster = np.array([[435, 630, 0], [100, 192, 998], [438, 110, 912]], dtype=np.uint32)
    cls = tax.to_level(raster, "class")
    grp = tax.to_level(raster, "group")
    assert cls.dtype == np.uint32 and cls.shape == raster.shape
    np.testing.assert_array_equal(cls, [[430, 620, 0], [100, 190, 998], [430, 110, 910]])
    np.testing.assert_array_equal(grp, [[400, 600, 0], [100, 100, 900], [400, 100, 900]])
    np.testing.assert_array_equal(tax.to_level(raster, "subclass"), raster)
    np.testing.assert_array_equal(tax.is_known(raster), np.ones((3, 3), bool))


def test_unknown_codes_are_named(tax: CropTaxonomy) -> None:
    values = np.array([[435, 5, 0], [4294967295, 999, 5]], dtype=np.uint32)
    np.testing.assert_array_equal(tax.unknown_codes(values), [5, 999, 4294967295])
    np.testing.assert_array_equal(
        tax.is_known(values), [[True, False, True], [False, False, False]]
    )
    with pytest.raises(ValueError, match=r"\[5, 999, 4294967295\]"):
        tax.to_level(values, "group")
    with pytest.raises(ValueError, match=r"\[-1\]"):
        tax.to_level(np.array([-1, 110], dtype=np.int16), "class")
    with pytest.raises(ValueError, match="level"):
        tax.to_level(np.array([110]), "order")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="integers"):
        tax.to_level(np.array([110.0]), "class")
    with pytest.raises(KeyError, match="5"):
        tax.name_of(5)


def test_encode_sen4agrinet_classes(tax: CropTaxonomy) -> None:
    s4a = load_nomenclature("sen4agrinet")
    assert len(s4a) == 12 and s4a.background == 0
    assert [c for (c,) in s4a.faoicc[1:]] == S4A_CODES  # type: ignore[index]
    raster = np.array([*S4A_CODES, 0, 912, 432, 977], dtype=np.uint32).reshape(3, 5)
    out = encode_codes(raster, s4a, tax)
    assert out.dtype == np.int64 and out.shape == (3, 5)
    np.testing.assert_array_equal(out.ravel(), [*range(1, 12), 0, 0, 0, 0])
    # codes no class covers go to `default` (e.g. an ignore index)
    np.testing.assert_array_equal(
        encode_codes(np.array([912, 0, 110]), s4a, default=255), [255, 0, 1]
    )


def test_encode_uses_nearest_ancestor() -> None:
    pastis = load_nomenclature("pastis")
    # 191 listed by Mixed cereal (17); 192 and 190 fall back to 190 = Winter triticale (10)
    out = encode_codes(np.array([191, 192, 190, 911, 912, 910, 351, 345, 0]), pastis)
    np.testing.assert_array_equal(out, [17, 10, 10, 1, 1, 14, 16, 12, 0])
    only_190 = Nomenclature(
        name="t", ids=(0, 1, 2), names=("bg", "a", "b"), colors=("#000000",) * 3,
        background=0, faoicc=((), (190,), (110,)),
    )  # fmt: skip
    np.testing.assert_array_equal(
        encode_codes(np.array([192, 191, 100, 110, 120]), only_190), [1, 1, 0, 2, 0]
    )


def test_encode_errors(tax: CropTaxonomy) -> None:
    s4a = load_nomenclature("sen4agrinet")
    with pytest.raises(ValueError, match=r"\[7, 1234\]"):
        encode_codes(np.array([110, 7, 1234], dtype=np.uint32), s4a)
    with pytest.raises(ValueError, match="no FAO-ICC"):
        encode_codes(np.array([110]), Nomenclature("x", (0,), ("bg",), ("#000000",)))
    foreign = Nomenclature("x", (0, 1), ("bg", "a"), ("#000000",) * 2, 0, None, ((), (111,)))
    with pytest.raises(ValueError, match="111"):
        encode_codes(np.array([110]), foreign)
    fin = load_nomenclature("finistere")  # no background: uncovered codes need a default
    with pytest.raises(ValueError, match="default"):
        encode_codes(np.array([0]), fin)
    np.testing.assert_array_equal(encode_codes(np.array([0, 191]), fin, default=-1), [-1, 4])


def test_duplicated_code_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"150 is listed by class 1 and class 2"):
        Nomenclature(
            name="dup", ids=(0, 1, 2), names=("bg", "winter", "spring"),
            colors=("#000000",) * 3, background=0, faoicc=((), (150,), (160, 150)),
        )  # fmt: skip
    with pytest.raises(ValueError, match="entries"):
        Nomenclature("n", (0, 1), ("a", "b"), ("#000000",) * 2, faoicc=((),))


def test_select_common_classes() -> None:
    counts = {
        "catalonia": {0: 10_000, 110: 500, 120: 300, 330: 150, 912: 9_000, 345: 40, 770: 10},
        "france": {0: 50_000, 110: 4_000, 120: 900, 330: 100, 912: 20_000, 770: 30, 510: 5},
    }
    # common non-excluded: 110 (4500), 120 (1200), 330 (250), 770 (40); 345/510 in one region
    assert select_common_classes(counts, coverage=1.0) == [110, 120, 330, 770]
    assert select_common_classes(counts, coverage=0.99) == [110, 120, 330]
    assert select_common_classes(counts, coverage=0.76) == [110, 120]  # 4500 / 5990 = 0.751
    assert select_common_classes(counts, coverage=0.75) == [110]
    assert select_common_classes(counts, coverage=1.0, exclude=()) == [0, 110, 120, 330, 770, 912]
    assert select_common_classes({"a": {110: 1}, "b": {120: 1}}) == []
    with pytest.raises(ValueError, match="coverage"):
        select_common_classes(counts, coverage=0.0)


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_nomenclatures_list_known_codes(name: str, tax: CropTaxonomy) -> None:
    nom = load_nomenclature(name)
    assert nom.faoicc is not None and len(nom.faoicc) == len(nom.ids)
    listed = [code for codes in nom.faoicc for code in codes]
    assert listed and all(code in tax for code in listed)
    assert len(listed) == len(set(listed))
    assert len(set(nom.colors)) == len(nom.colors)
    # every code of the taxonomy encodes to a class id (or to the fallback -1)
    ids = encode_codes(np.array(tax.codes), nom, tax, default=-1)
    assert set(ids.tolist()) <= {*nom.ids, -1}


def test_existing_keys_are_kept() -> None:
    root = resources.files("sitsfusion.data") / "nomenclatures"
    ms = json.loads((root / "multisenge.json").read_text())
    assert set(ms) >= {"name", "background", "void", "classes", "regroup_10", "regroup_6"}
    assert "faoicc" not in ms["regroup_10"]["classes"][0]
    pastis = load_nomenclature("pastis")
    assert (pastis.background, pastis.void, len(pastis)) == (0, 19, 20)
    assert pastis.faoicc[17] == (191,)  # type: ignore[index]
    fin = load_nomenclature("finistere")
    assert fin.ids == (1, 2, 3, 4, 5, 8, 11, 16, 17, 18, 20, 25)


_KNOWN = st.sampled_from([0, *load_faoicc().codes])


@settings(max_examples=60, deadline=None)
@given(st.lists(_KNOWN, min_size=1, max_size=30), st.sampled_from([np.uint16, np.int32]))
def test_to_level_composes(codes: list[int], dtype: type) -> None:
    tax = load_faoicc()
    x = np.array(codes, dtype=dtype)
    via_class = tax.to_level(tax.to_level(x, "class"), "group")
    np.testing.assert_array_equal(via_class, tax.to_level(x, "group"))
    # every non-zero group-level output is a group; class-level never finer than class
    grp = tax.to_level(x, "group")
    assert all(c == 0 or tax.level_of(c) == "group" for c in grp.tolist())
    assert all(c == 0 or tax.level_of(c) != "subclass" for c in tax.to_level(x, "class").tolist())
