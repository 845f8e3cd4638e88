"""The bundled BTC/USD candles: checksum, row checks on broken files, the wheel, liquidation on
real paths and the interval for overlapping windows."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from levpaper import data
from levpaper.first_passage import liquidation_barrier

ROOT = Path(__file__).resolve().parents[1]
HEADER = "unix,date,symbol,open,high,low,close,volume,Volume USD"


def row(t: int, o: float = 100.0, h: float = 101.0, lo: float = 99.0, c: float = 100.5) -> str:
    date = str(np.datetime64(t, "s")).replace("T", " ")
    return f"{t},{date},BTC/USD,{o},{h},{lo},{c},1.5,150.0"


def write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "candles.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


T0 = 1_600_000_000 - 1_600_000_000 % 3600


def good_rows(n: int = 5) -> list[str]:
    return [row(T0 + 3600 * k) for k in range(n)]


def test_bundled_file_checksum_shape_and_order() -> None:
    c = data.load_btc_usd_hourly()
    assert len(c) == 33_259
    assert np.all(np.diff(c.time.astype(np.int64)) == 3600)
    assert str(c.time[0]) == "2018-05-15T06:00:00" and str(c.time[-1]) == "2022-03-01T00:00:00"
    assert np.all(c.low <= np.minimum(c.open, c.close)) and np.all(c.high >= c.close)
    # the swapped volume columns are repaired: base-asset volume times price ~ USD volume
    assert np.all(c.volume * c.close < 1e10)
    path = ROOT / "levpaper" / "data" / "btc_usd_hourly.csv"
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == data.BTC_USD_HOURLY_SHA256
    provenance = (ROOT / "levpaper" / "data" / "PROVENANCE.md").read_text()
    assert data.BTC_USD_HOURLY_SHA256 in provenance and "MIT" in provenance


def test_a_good_file_in_either_order_reads_the_same(tmp_path: Path) -> None:
    up = data.read_candles(write(tmp_path, good_rows()))
    down = data.read_candles(write(tmp_path, good_rows()[::-1]))
    assert len(up) == 5 and np.array_equal(up.time, down.time)
    assert np.array_equal(up.close, down.close)
    assert np.all(up.volume == 1.5)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([*good_rows(3), row(T0 + 3600 * 4)], r"line 5 \(.*\): gap: 7200 s"),
        ([*good_rows(3), row(T0 + 3600 * 2)], r"line 5 \(.*\): duplicate timestamp"),
        (
            [row(T0), row(T0 + 3600), row(T0), row(T0 + 3600 * 3)],
            r"line 4 \(.*\): timestamps not monotone",
        ),
        ([*good_rows(2), row(T0 + 7200, c=102.0)], r"line 4 \(.*\): close 102.0 above high"),
        ([row(T0, o=-100.0), *good_rows(3)[1:]], r"line 2 \(.*\): open price must be .* > 0"),
        ([*good_rows(2), row(T0 + 7200, lo=100.2)], r"line 4 \(.*\): low 100.2 above open"),
        ([*good_rows(2), row(T0 + 7200)[:-6] + "abc,1"], r"line 4: cannot read a number"),
    ],
    ids=["gap", "duplicate", "non-monotone", "high-below-close", "negative", "low-above", "text"],
)
def test_broken_files_raise_naming_the_row(tmp_path: Path, rows: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        data.read_candles(write(tmp_path, rows))


def test_missing_column_bad_date_and_bad_checksum(tmp_path: Path) -> None:
    header = HEADER.replace(",low,", ",")
    rows = [",".join(r.split(",")[:5] + r.split(",")[6:]) for r in good_rows()]
    with pytest.raises(ValueError, match=r"missing column.*low"):
        data.read_candles(write(tmp_path, rows, header))
    bad_date = [*good_rows(2), row(T0 + 7200).replace(",20", ",19", 1)]
    with pytest.raises(ValueError, match=r"line 4 .* disagrees with unix"):
        data.read_candles(write(tmp_path, bad_date))
    path = write(tmp_path, good_rows())
    with pytest.raises(ValueError, match="sha256"):
        data.read_candles(path, sha256=data.BTC_USD_HOURLY_SHA256)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        data.read_candles(empty)
    with pytest.raises(ValueError, match="no candles"):
        data.read_candles(write(tmp_path, []))


def test_a_damaged_copy_of_the_bundled_file_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "levpaper" / "data" / "btc_usd_hourly.csv").read_text()
    lines = text.splitlines()
    damaged = tmp_path / "damaged.csv"
    damaged.write_text("\n".join([*lines[:100], *lines[101:]]) + "\n")  # one hour removed
    with pytest.raises(ValueError, match=r"line 101 \(2022-02-24T20:00:00\): gap"):
        data.load_btc_usd_hourly(damaged)
    with pytest.raises(ValueError, match="sha256"):
        data.read_candles(damaged, sha256=data.BTC_USD_HOURLY_SHA256)


def test_split_is_by_calendar_year() -> None:
    fit, hold = data.split(data.load_btc_usd_hourly())
    assert str(fit.time[0])[:4] == "2018" and str(fit.time[-1])[:4] == "2020"
    assert str(hold.time[0])[:4] == "2021" and str(hold.time[-1])[:4] == "2022"
    with pytest.raises(ValueError, match="overlap"):
        data.split(fit, (2018, 2021), (2021, 2022))
    with pytest.raises(ValueError, match="holdout"):
        data.split(fit)


def test_loading_works_from_an_installed_wheel(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("levpaper-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "levpaper/data/btc_usd_hourly.csv" in names
        assert "levpaper/data/PROVENANCE.md" in names
        z.extractall(tmp_path / "site")
    code = (
        "import levpaper.data as d, pathlib; "
        "assert pathlib.Path(d.__file__).is_relative_to(pathlib.Path.cwd() / 'site'); "
        "print(len(d.load_btc_usd_hourly()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert out.stdout.strip() == "33259"


def synthetic_candles(n: int) -> data.Candles:
    t = (T0 + 3600 * np.arange(n)).astype("datetime64[s]")
    o = np.full(n, 100.0)
    return data.Candles(t, o, o * 1.001, o * 0.999, o.copy(), np.ones(n))


def test_empirical_liquidation_by_hand() -> None:
    c = synthetic_candles(10)
    bar = float(liquidation_barrier(50, 0.005, "long"))
    low = c.low.copy()
    low[6] = 100.0 * bar  # touches the barrier of a 50x long opened at 100 in hour 6 only
    close = c.close.copy()
    close[8] = low[8] = 100.0 * bar
    c = data.Candles(c.time, c.open, c.high, low, close, c.volume)
    hit = data.empirical_liquidation(c, 50, "long", 3)
    assert hit.tolist() == [False, False, False, False, True, True, True, True]
    hourly = data.empirical_liquidation(c, 50, "long", 3, intrahour=False)
    assert hourly.tolist() == [False] * 6 + [True, True]
    assert not data.empirical_liquidation(c, 50, "short", 10).any()
    assert data.empirical_liquidation(c, 50, "long", 1).sum() == 2
    with pytest.raises(ValueError, match="horizon_hours"):
        data.empirical_liquidation(c, 50, "long", 11)
    with pytest.raises(ValueError, match="side"):
        data.empirical_liquidation(c, 50, "up", 1)  # type: ignore[arg-type]


def test_block_bootstrap_and_newey_west_cover_overlapping_windows() -> None:
    """Overlapping windows: x_t = 1{sum of z_t..z_{t+h-1} > 0}, mean 1/2. The true standard
    error of the mean, from 300 independent series, is matched by the block bootstrap and by
    Newey-West within 25%, and is far above the i.i.d. value."""
    rng = np.random.default_rng(11)
    n, h = 4000, 48

    def series() -> np.ndarray:
        z = rng.standard_normal(n + h - 1)
        s = np.convolve(z, np.ones(h), mode="valid")
        return (s > 0).astype(np.float64)

    true_se = float(np.std([series().mean() for _ in range(300)], ddof=1))
    x = series()
    boot = data.block_bootstrap_ci(x, 4 * h, np.random.default_rng(1), n_boot=1000)
    nw = data.newey_west_se(x, 2 * h)
    iid = float(x.std(ddof=1) / np.sqrt(n))
    assert abs(boot.se / true_se - 1) < 0.25, (boot.se, true_se)
    assert abs(nw / true_se - 1) < 0.25, (nw, true_se)
    assert iid < true_se / 3
    assert boot.low < boot.estimate < boot.high
    # coverage over independent series: close to the nominal 95%
    cover = 0
    for k in range(60):
        ci = data.block_bootstrap_ci(series(), 4 * h, np.random.default_rng(k), n_boot=400)
        cover += ci.low <= 0.5 <= ci.high
    assert cover >= 50


def test_bootstrap_and_newey_west_reject_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="block"):
        data.block_bootstrap_ci(np.ones(5), 6, rng)
    with pytest.raises(ValueError, match="level"):
        data.block_bootstrap_ci(np.ones(5), 2, rng, level=1.0)
    with pytest.raises(ValueError, match="x must"):
        data.block_bootstrap_ci(np.ones(1), 1, rng)
    with pytest.raises(ValueError, match="lags"):
        data.newey_west_se(np.ones(5), 5)


def test_barrier_race_by_hand() -> None:
    c = synthetic_candles(8)
    high, low = c.high.copy(), c.low.copy()
    high[2] = 103.0  # +3% in hour 2
    low[4] = 97.0  # -3% in hour 4
    high[6], low[6] = 103.0, 97.0  # both in hour 6: a tie, counted as down
    c = data.Candles(c.time, c.open, high, low, c.close, c.volume)
    out, ties = data.barrier_race(c, 1.02, 0.98, 3)
    assert out.tolist() == [1, 1, 1, -1, -1, -1]
    assert ties == 1  # start 5 is decided by hour 6, which touches both
    out, ties = data.barrier_race(c, 1.02, 0.98, 1)
    assert out.tolist() == [0, 0, 1, 0, -1, 0, -1, 0] and ties == 1
    with pytest.raises(ValueError, match="up"):
        data.barrier_race(c, 0.9, 0.98, 3)
