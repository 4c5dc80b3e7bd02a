#!/usr/bin/env python3
"""Generate golden candlestick-pattern data for tickforge with TA-Lib itself.

Writes, by default into engine/tests/data/talib/:

- bars.csv      series,open,high,low,close — OHLC as exact decimal text (at most 8 decimals)
- expected.csv  index,pattern,value — every non-zero TA-Lib output; `index` is the 0-based
                data row of bars.csv, `pattern` tickforge's name (cdl_doji, ...)

The bars are seeded random walks (several series at different price levels and tick
sizes) with frequent dojis, small bodies, opens equal to the previous close, flat bars,
and planted pattern shapes, some with one quantity on or next to its threshold (a close
exactly at the morning star's penetration level, two body ends equal, ...), followed by
a `ties` series of scenarios that put each condition of each pattern exactly on its
threshold, so that every comparison's edge case occurs.
Each series is run through `talib.CDLxxx(open, high, low, close)` with default parameters,
on float64 arrays parsed from the same decimal text the Rust test parses.

Usage: python3 scripts/talib/gen_golden.py [--out DIR] [--seed N]
Needs: pip install numpy ta-lib  (ta-lib 0.6+ wheels bundle the C library)
"""

import argparse
import csv
import math
import platform
import random
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import talib

# tickforge's Pattern::ALL order and names.
PATTERNS = [
    ("cdl_doji", "CDLDOJI"),
    ("cdl_hammer", "CDLHAMMER"),
    ("cdl_invertedhammer", "CDLINVERTEDHAMMER"),
    ("cdl_hangingman", "CDLHANGINGMAN"),
    ("cdl_shootingstar", "CDLSHOOTINGSTAR"),
    ("cdl_engulfing", "CDLENGULFING"),
    ("cdl_harami", "CDLHARAMI"),
    ("cdl_haramicross", "CDLHARAMICROSS"),
    ("cdl_morningstar", "CDLMORNINGSTAR"),
    ("cdl_eveningstar", "CDLEVENINGSTAR"),
    ("cdl_3whitesoldiers", "CDL3WHITESOLDIERS"),
    ("cdl_3blackcrows", "CDL3BLACKCROWS"),
    ("cdl_piercing", "CDLPIERCING"),
    ("cdl_darkcloudcover", "CDLDARKCLOUDCOVER"),
    ("cdl_marubozu", "CDLMARUBOZU"),
]

# name, bars, start price, tick, volatility per bar (fraction of the price)
SERIES = [
    ("stock", 1500, "100", "0.01", 0.006),
    ("coarse", 500, "40", "0.25", 0.012),
    ("alt", 500, "0.04530000", "0.00000001", 0.01),
    ("btc", 400, "64000", "0.5", 0.004),
    # Above 2^53 nano-units (9,007,199.25): the Rust side converts through decimal text.
    ("big", 400, "12345678", "0.001", 0.003),
    # Few ticks per bar: many quantities tie.
    ("micro", 700, "25", "0.5", 0.05),
]


def body_of(bar):
    return abs(bar[3] - bar[0])


def range_of(bar):
    return bar[1] - bar[2]


class Walk:
    """OHLC bars in integer ticks.

    Planted shapes put their quantities on or next to TA-Lib's thresholds now and then
    (`edge`): a body equal to the mean body of the 10 bars before it, an open exactly at
    the prior close plus "near", a shadow equal to the body, ... The thresholds are
    computed here exactly (in ticks, as fractions) from the bars already generated, with
    the default candle settings; what TA-Lib makes of each tie is what the golden data
    records.
    """

    EDGE = 0.3  # how often a planted quantity goes to its threshold (one per shape)

    def __init__(self, rng, start, vol, tick):
        self.rng = rng
        self.tick = tick
        self.places = max(0, -tick.as_tuple().exponent)
        self.start = start
        self.close = start
        self.vol = vol
        self.trend = 0.0
        self.bars = []
        self.discriminating = 0
        self.edges_left = 0

    # -- helpers ---------------------------------------------------------------------------

    def text(self, x):
        return format(Decimal(x) * self.tick, f".{self.places}f")

    def f(self, x):
        """The float TA-Lib sees for a price of x ticks."""
        return float(self.text(x))

    @property
    def v(self):
        """Typical bar size in ticks (at least 2)."""
        return max(2.0, self.close * self.vol)

    @property
    def at(self):
        """Index of the next bar."""
        return len(self.bars)

    def ticks(self, x):
        return max(0, int(round(x)))

    def push(self, o, h, lo, c):
        o, h, lo, c = (max(1, x) for x in (o, h, lo, c))
        h = max(h, o, c)
        lo = min(lo, o, c)
        self.bars.append((o, h, lo, c))
        self.close = c

    def push_body(self, o, c, up, down):
        """Pushes a bar with upper shadow `up` and lower shadow `down`."""
        self.push(o, max(o, c) + up, min(o, c) - down, c)

    def shadow(self, body):
        r = self.rng.random()
        if r < 0.25:
            return 0
        if r < 0.8:
            return self.ticks(abs(self.rng.gauss(0, 0.4 * self.v)))
        return self.ticks(body * self.rng.uniform(1.2, 3.0) + abs(self.rng.gauss(0, 0.5 * self.v)))

    def open_from(self, prev):
        r = self.rng.random()
        if r < 0.5:
            return prev
        if r < 0.85:
            return prev + int(round(self.rng.gauss(0, 0.3 * self.v)))
        return prev + int(round(self.rng.gauss(0, 1.2 * self.v)))

    def small(self):
        return self.ticks(self.rng.uniform(0, 0.4) * self.v)

    def long(self):
        return max(3, self.ticks(self.rng.uniform(2.5, 4.0) * self.v))

    def tiny(self):
        """A shadow that is 0 or a tick or two."""
        return self.rng.choice([0, 0, 1, 2])

    # -- TA-Lib's yardsticks, exact, for the candle at bar index `at` ----------------------

    def mean(self, measure, period, at):
        bars = self.bars[max(0, at - period):at]
        return Fraction(sum(measure(b) for b in bars), period)

    def body_avg(self, at):  # BodyLong / BodyShort: mean body of the previous 10
        return self.mean(body_of, 10, at)

    def tenth_range(self, at):  # BodyDoji / ShadowVeryShort: 10% of the mean range of 10
        return self.mean(range_of, 10, at) / 10

    def near(self, at):  # 20% of the mean range of the previous 5
        return self.mean(range_of, 5, at) / 5

    def far(self, at):  # 60% of the mean range of the previous 5
        return self.mean(range_of, 5, at) * 3 / 5

    def edge(self, x):
        """A whole number of ticks on the threshold x (when x is whole) or next to it."""
        lo, hi = math.floor(x), math.ceil(x)
        return max(0, self.rng.choice([lo, hi, lo, hi, lo - 1, hi + 1]))

    def at_edge(self):
        """Whether the next planted quantity goes to its threshold: at most one per shape,
        so that the shape's other conditions usually hold and the tie decides."""
        if self.edges_left and self.rng.random() < self.EDGE:
            self.edges_left -= 1
            return True
        return False

    # -- random bars -----------------------------------------------------------------------

    def random_bar(self):
        rng, v = self.rng, self.v
        if rng.random() < 0.02:
            # Flat bars (what an empty bar looks like): o = h = l = c = previous close. A
            # long run makes every 10-bar average 0.
            n = rng.randint(1, 4) if rng.random() < 0.7 else rng.randint(10, 14)
            for _ in range(n):
                self.push(self.close, self.close, self.close, self.close)
            return
        o = self.open_from(self.close)
        r = rng.random()
        if r < 0.10:
            body = 0 if rng.random() < 0.5 else self.ticks(rng.uniform(0, 0.08) * v)
        elif r < 0.15:
            body = self.edge(self.tenth_range(self.at))  # doji threshold
        elif r < 0.44:
            body = self.small()
        elif r < 0.80:
            body = self.ticks(abs(rng.gauss(0, v)))
        else:
            body = self.ticks(rng.uniform(1.8, 3.5) * v)
        self.trend = 0.9 * self.trend + rng.gauss(0, 0.3)
        pull = (self.start - self.close) / self.start * 3.0
        up = rng.random() < 0.5 + max(-0.35, min(0.35, 0.2 * self.trend + pull))
        c = o + body if up else o - body
        self.push_body(o, c, self.shadow(body), self.shadow(body))

    # -- planted shapes --------------------------------------------------------------------

    def engulfing(self, white):
        rng, v = self.rng, self.v
        s = 1 if white else -1
        b1 = max(1, self.ticks(rng.uniform(0.5, 1.5) * v))
        o1 = self.close
        c1 = o1 - s * b1
        self.push_body(o1, c1, self.shadow(b1), self.shadow(b1))
        gap = 0 if rng.random() < 0.35 else self.ticks(rng.uniform(0, 0.3) * v) + 1
        ext = 0 if rng.random() < 0.35 else self.ticks(rng.uniform(0, 0.8) * v) + 1
        o2 = c1 - s * gap
        c2 = o1 + s * ext
        b2 = abs(c2 - o2)
        self.push_body(o2, c2, self.shadow(b2), self.shadow(b2))

    def harami(self, white_first, cross):
        rng = self.rng
        s = 1 if white_first else -1
        b1 = max(1, self.edge(self.body_avg(self.at))) if self.at_edge() else self.long()
        o1 = self.open_from(self.close)
        c1 = o1 + s * b1
        self.push_body(o1, c1, self.tiny(), self.tiny())
        lo_end, hi_end = min(o1, c1), max(o1, c1)
        at = self.at
        limit = self.tenth_range(at) if cross else self.body_avg(at)
        if self.at_edge():
            b2 = self.edge(limit)
        elif cross:
            b2 = 0
        else:
            b2 = max(1, self.small())
        b2 = min(b2, b1)
        start = rng.choice([lo_end, hi_end - b2, rng.randint(lo_end, hi_end - b2)])
        o2, c2 = (start, start + b2) if rng.random() < 0.5 else (start + b2, start)
        self.push_body(o2, c2, self.shadow(b2), self.shadow(b2))

    def star(self, morning):
        rng, v = self.rng, self.v
        s = -1 if morning else 1  # first candle's direction
        tie = rng.random() < 0.4
        o1 = self.open_from(self.close)
        b1 = max(1, self.edge(self.body_avg(self.at))) if self.at_edge() else self.long()
        if tie:
            # The third close lands exactly on close[1] - s * 0.3 * body[1] in decimal. Pick
            # a body for which computing that threshold with one fused multiply-add and
            # with a separate multiply and add round to different sides of the close, so
            # the data shows which one TA-Lib does (fused for the morning star, not for
            # the evening star in the official build).
            b1 = self.long()
            for _ in range(200):
                b1 = max(10, b1 // 10 * 10)  # 0.3 * body is a whole number of ticks
                c1 = o1 + s * b1
                c3 = c1 - s * (b1 * 3 // 10)
                body, close1, close3 = abs(self.f(c1) - self.f(o1)), self.f(c1), self.f(c3)
                plain = close1 - s * (body * 0.3)
                fused = float(Fraction(close1) - s * Fraction(body) * Fraction(0.3))
                if morning:
                    differ = (close3 > plain) != (close3 > fused)
                else:
                    differ = (close3 < plain) != (close3 < fused)
                if differ:
                    self.discriminating += 1
                    break
                b1 = self.long() + rng.randrange(10)
                o1 += rng.randrange(-5, 6)
        c1 = o1 + s * b1
        self.push_body(o1, c1, self.tiny(), self.tiny())
        # The star: a short body beyond the first close (a gap of 0 ties the body ends).
        gap = 0 if rng.random() < 0.1 else self.ticks(rng.uniform(0, 0.5) * v) + 1
        b2 = self.edge(self.body_avg(self.at)) if self.at_edge() else self.small()
        near = c1 + s * gap
        o2, c2 = (near, near + s * b2) if rng.random() < 0.5 else (near + s * b2, near)
        self.push_body(o2, c2, self.shadow(b2), self.shadow(b2))
        if tie:
            c3 = c1 - s * (b1 * 3 // 10)
        else:
            c3 = c1 - s * self.ticks(b1 * rng.choice([rng.uniform(0.35, 0.95), rng.uniform(0.1, 0.3)]))
        if self.at_edge():
            b3 = max(1, self.edge(self.body_avg(self.at)))  # third body "not short"
        else:
            b3 = max(1, abs(c3 - (c2 - s * self.ticks(rng.uniform(0, 0.3) * v))))
        o3 = c3 + s * b3  # color opposite to the first candle
        self.push_body(o3, c3, self.shadow(b3), self.shadow(b3))

    def soldiers(self):
        """Three white soldiers; at most one of its many conditions goes to its edge."""
        rng, v = self.rng, self.v
        focus = rng.choice([None, "short", "near2", "near3", "far2", "far3", "upper"])
        self.edges_left = 0
        prev = None
        for k in range(3):
            at = self.at
            b = max(2, self.ticks(rng.uniform(0.8, 1.6) * v))
            if k == 2 and focus == "short":
                b = self.edge(self.body_avg(at))  # last body "not short"
            if prev is None:
                o = self.open_from(self.close)
            else:
                po, pc, pat = prev
                if focus == f"near{k + 1}":  # at most "near" above the prior close
                    o = pc + self.edge(self.near(pat))
                elif rng.random() < 0.85:  # inside the prior body
                    o = pc - self.ticks(rng.uniform(0.05, 0.9) * (pc - po))
                else:  # on the prior open
                    o = po + rng.choice([0, 1])
                if focus == f"far{k + 1}":  # not "far" shorter than the prior body
                    b = max(0, (pc - po) - self.edge(self.far(pat)))
                if o + b <= pc:  # keep the closes rising
                    b = pc - o + rng.choice([1, 1, 2])
            c = o + b
            up = self.edge(self.tenth_range(at)) if focus == "upper" else self.tiny()
            self.push_body(o, c, up, self.shadow(b))
            prev = (o, c, at)

    def crows(self):
        """A white candle, then three black crows."""
        rng, v = self.rng, self.v
        b0 = max(1, self.ticks(rng.uniform(0.5, 1.5) * v))
        o0 = self.open_from(self.close)
        self.push_body(o0, o0 + b0, self.shadow(b0), self.shadow(b0))
        white_high = self.bars[-1][1]
        prev = None
        for k in range(3):
            at = self.at
            b = max(2, self.ticks(rng.uniform(0.8, 1.6) * v))
            if prev is None:
                if rng.random() < 0.25:  # gap above the white high, close on or by it
                    c = white_high + rng.choice([-1, 0, 0, 1])
                    o = max(c + b, white_high + 1)
                    b = o - c
                else:
                    o = self.open_from(self.close)
            else:
                po, pc = prev
                r = rng.random()
                if r < 0.7:
                    o = pc + self.ticks(rng.uniform(0.05, 0.95) * (po - pc))
                else:  # on an end of the prior body, or just inside
                    o = rng.choice([po, pc, po - 1, pc + 1])
            c = o - b
            down = self.edge(self.tenth_range(at)) if self.at_edge() else self.tiny()
            self.push_body(o, c, self.shadow(b), down)
            prev = (o, c)

    def piercing(self, bullish):
        """Piercing line (bullish) or dark cloud cover."""
        rng, v = self.rng, self.v
        s = -1 if bullish else 1  # first candle's direction
        tie = rng.random() < 0.35
        b1 = max(1, self.edge(self.body_avg(self.at))) if self.at_edge() else self.long()
        if tie:
            b1 += b1 % 2  # half the body is a whole number of ticks
        o1 = self.open_from(self.close)
        c1 = o1 + s * b1
        h1 = max(o1, c1) + self.tiny()
        l1 = min(o1, c1) - self.tiny()
        self.push(o1, h1, l1, c1)
        gap = self.ticks(rng.uniform(0, 0.4) * v) + rng.choice([0, 1, 1])
        o2 = (l1 - gap) if bullish else (h1 + gap)
        r = rng.random()
        if tie:
            c2 = c1 - s * (b1 // 2)
        elif r < 0.15:
            c2 = o1 + s * rng.choice([0, 1])  # on the first open, or just inside
        else:
            c2 = c1 - s * self.ticks(b1 * rng.uniform(0.3, 1.05))
        if bullish and self.at_edge():
            # Second body "long" against the 10 bars before *it* (the first candle among
            # them): just under the right yardstick, above the misaligned one.
            o2 = c2 - self.edge(self.body_avg(self.at))
        b2 = abs(c2 - o2)
        self.push_body(o2, c2, self.shadow(b2), self.shadow(b2))

    def hammer_like(self, kind):
        rng, v = self.rng, self.v
        at = self.at
        prev = self.bars[-1]
        b = self.edge(self.body_avg(at)) if self.at_edge() else self.ticks(rng.uniform(0, 0.5) * v)
        if self.at_edge():
            long_shadow = b + rng.choice([0, 1])  # the shadow must be longer than the body
        else:
            long_shadow = b + self.ticks(rng.uniform(0.5, 2.5) * v) + 1
        short_shadow = self.edge(self.tenth_range(at)) if self.at_edge() else self.tiny()
        edge = self.at_edge()
        if kind == "hammer":  # body bottom at most "near" above the prior low
            if edge:
                bottom = prev[2] + self.edge(self.near(at - 1))
            else:
                bottom = prev[2] + int(round(rng.gauss(0, 0.3 * v)))
        elif kind == "hanging":  # body bottom at least the prior high minus "near"
            if edge:
                bottom = prev[1] - self.edge(self.near(at - 1))
            else:
                bottom = prev[1] - int(round(rng.gauss(0, 0.3 * v)))
        elif kind == "inverted":  # body gapping down
            gap = rng.choice([0, 1]) if edge else self.ticks(rng.uniform(0, 0.5) * v) + 1
            bottom = min(prev[0], prev[3]) - b - gap
        else:  # shooting star: body gapping up
            gap = rng.choice([0, 1]) if edge else self.ticks(rng.uniform(0, 0.5) * v) + 1
            bottom = max(prev[0], prev[3]) + gap
        o, c = (bottom, bottom + b) if rng.random() < 0.5 else (bottom + b, bottom)
        if kind in ("hammer", "hanging"):
            self.push_body(o, c, short_shadow, long_shadow)
        else:
            self.push_body(o, c, long_shadow, short_shadow)

    def marubozu(self):
        at = self.at
        b = max(1, self.edge(self.body_avg(at))) if self.at_edge() else self.long()
        o = self.open_from(self.close)
        c = o + b if self.rng.random() < 0.5 else o - b
        shadow = self.edge(self.tenth_range(at)) if self.at_edge() else None
        self.push_body(o, c, shadow if shadow is not None else self.tiny(), self.tiny())

    def planted(self):
        rng = self.rng
        self.edges_left = 1
        choice = rng.randrange(17)
        if choice < 2:
            self.engulfing(choice == 0)
        elif choice < 4:
            self.harami(choice == 2, cross=False)
        elif choice < 6:
            self.harami(choice == 4, cross=True)
        elif choice < 8:
            self.star(choice == 6)
        elif choice == 8:
            self.soldiers()
        elif choice == 9:
            self.crows()
        elif choice < 12:
            self.piercing(choice == 10)
        elif choice < 16:
            self.hammer_like(rng.choice(["hammer", "hanging", "inverted", "shooting"]))
        else:
            self.marubozu()


class Ties(Walk):
    """Scenarios that put one condition of one pattern exactly on its threshold.

    Every scenario starts after 10 calibration bars (body 40 ticks, range 200 ticks) and
    every pattern candle has a body that is a multiple of 10 ticks and a range that is a
    multiple of 100 ticks, so all of TA-Lib's yardsticks are whole numbers of ticks
    (mean body = sum / 10, 10% of the mean range = sum / 100, near = sum of 5 / 25, far =
    3 * sum of 5 / 25) and a quantity can sit exactly on one. The tick is 0.25, so the
    prices and their differences are exact in binary too and the float comparisons tie.
    Each condition is planted on its threshold (offset 0) and one tick to one side.
    """

    def __init__(self, rng):
        super().__init__(rng, 8000, 0.0, Decimal("0.25"))
        self.scenarios = 0

    def calibrate(self):
        for _ in range(10):
            o = self.close
            c = o - 40 if o > self.start else o + 40
            self.push_body(o, c, 80, 80)

    def candle(self, o, c, up=None, down=None):
        """A candle whose range is a multiple of 100 ticks unless both shadows are given."""
        b = abs(c - o)
        if up is None and down is None:
            total = -(-max(b, 1) // 100) * 100 - b
            up, down = total // 2, total - total // 2
        elif up is None:
            up = -(-(b + down) // 100) * 100 - b - down
        elif down is None:
            down = -(-(b + up) // 100) * 100 - b - up
        assert up >= 0 and down >= 0
        self.push_body(o, c, up, down)
        return self.bars[-1]

    @staticmethod
    def whole(x):
        assert x.denominator == 1, x
        return int(x)

    def run(self):
        scenarios = [
            (self.doji, ["body"]),
            (self.marubozu_t, ["body", "upper", "lower"]),
            (lambda t, d: self.hammer_t(t, d, hanging=False), ["body", "shadow", "upper", "near"]),
            (lambda t, d: self.hammer_t(t, d, hanging=True), ["body", "shadow", "upper", "near"]),
            (lambda t, d: self.inverted_t(t, d, shooting=False), ["gap", "body", "shadow", "lower"]),
            (lambda t, d: self.inverted_t(t, d, shooting=True), ["gap", "body", "shadow", "lower"]),
            (lambda t, d: self.harami_t(t, d, cross=False), ["long1", "short2"]),
            (lambda t, d: self.harami_t(t, d, cross=True), ["long1", "short2"]),
            (lambda t, d: self.star_t(t, d, morning=True), ["long1", "gap", "short2", "pen", "short3"]),
            (lambda t, d: self.star_t(t, d, morning=False), ["long1", "gap", "short2", "pen", "short3"]),
            (self.soldiers_t, ["upper1", "upper2", "upper3", "open2", "open3", "close2", "close3",
                              "near2", "near3", "far2", "far3", "short3"]),
            (self.crows_t, ["lower1", "lower2", "lower3", "whigh", "open2a", "open2b", "open3a",
                            "close2", "close3"]),
            (lambda t, d: self.piercing_t(t, d, dark=False), ["long1", "low", "mid", "open1", "long2"]),
            (lambda t, d: self.piercing_t(t, d, dark=True), ["long1", "high", "mid", "open1"]),
        ]
        for build, names in scenarios:
            for tie in names:
                for d in (0, self.rng.choice([-1, 1])):
                    self.calibrate()
                    build(tie, d)
                    self.scenarios += 1
        self.calibrate()

    def doji(self, tie, d):
        at = self.at
        b = self.whole(self.tenth_range(at)) + d if tie == "body" else 0
        self.candle(self.close, self.close + b)

    def marubozu_t(self, tie, d):
        at = self.at
        b = self.whole(self.body_avg(at)) + d if tie == "body" else 100
        edge = self.whole(self.tenth_range(at)) + d
        up = edge if tie == "upper" else 0
        down = edge if tie == "lower" else 0
        o = self.close
        self.candle(o, o - b if o > self.start else o + b, up, down)

    def hammer_t(self, tie, d, hanging):
        at = self.at
        prev = self.bars[-1]
        b = self.whole(self.body_avg(at)) + d if tie == "body" else 10
        lower = b + d if tie == "shadow" else 3 * b + 60
        upper = self.whole(self.tenth_range(at)) + d if tie == "upper" else 0
        near = self.whole(self.near(at - 1))
        if hanging:
            bottom = prev[1] - near - d if tie == "near" else prev[1]
        else:
            bottom = prev[2] + near + d if tie == "near" else prev[2]
        self.candle(bottom + b, bottom, upper, lower)

    def inverted_t(self, tie, d, shooting):
        at = self.at
        prev = self.bars[-1]
        b = self.whole(self.body_avg(at)) + d if tie == "body" else 10
        upper = b + d if tie == "shadow" else 3 * b + 60
        lower = self.whole(self.tenth_range(at)) + d if tie == "lower" else 0
        gap = d if tie == "gap" else 20
        if shooting:
            bottom = max(prev[0], prev[3]) + gap
        else:
            bottom = min(prev[0], prev[3]) - gap - b
        self.candle(bottom, bottom + b, upper, lower)

    def harami_t(self, tie, d, cross):
        b1 = self.whole(self.body_avg(self.at)) + d if tie == "long1" else 200
        o1 = self.close
        c1 = o1 - b1 if o1 > self.start else o1 + b1
        self.candle(o1, c1)
        at = self.at
        limit = self.tenth_range(at) if cross else self.body_avg(at)
        b2 = self.whole(limit) + d if tie == "short2" else (0 if cross else 20)
        mid = (o1 + c1) // 2
        self.candle(mid - b2 // 2, mid - b2 // 2 + b2)

    def star_t(self, tie, d, morning):
        s = -1 if morning else 1  # first candle's direction
        b1 = self.whole(self.body_avg(self.at)) + d if tie == "long1" else 200
        o1 = self.close
        c1 = o1 + s * b1
        self.candle(o1, c1, 0, 0)
        b2 = self.whole(self.body_avg(self.at)) + d if tie == "short2" else 10
        gap = -d if tie == "gap" else 20  # the star's body beyond the first close
        near = c1 + s * gap
        self.candle(near, near + s * b2)
        if tie == "pen":
            c3 = self.whole(c1 - s * Fraction(3, 10) * b1) - s * d
        else:
            c3 = c1 - s * (b1 * 6 // 10)
        b3 = self.whole(self.body_avg(self.at)) + d if tie == "short3" else 100
        self.candle(c3 + s * b3, c3)

    def soldiers_t(self, tie, d):
        o = self.close
        prev = None
        for k in (1, 2, 3):
            at = self.at
            # Shorter first bodies when the last body is to sit on its "not short" edge, so
            # that it is not also "far" shorter than the second; longer ones when a body is
            # to sit on its "far" edge, so that it is not also short.
            b = 100 if tie == "short3" else 300 if tie.startswith("far") else 200
            if prev is None:
                o = self.close
            else:
                po, pc, pat = prev
                o = pc - 50
                if tie == f"near{k}":
                    o = pc + self.whole(self.near(pat)) + d
                if tie == "open2" and k == 2:
                    o = po + d
                if tie == f"far{k}":
                    b = (pc - po) - self.whole(self.far(pat)) + d
                if tie == "open3" and k == 3:
                    o, b = po + d, 250 - d
                if tie == "close2" and k == 2:
                    o, b = pc - 100, 100 + d
            if tie == "close3":
                if k < 3:
                    b = 100
                else:
                    o, b = prev[1] - 60, 60 + d
            if tie == "short3" and k == 3:
                b = self.whole(self.body_avg(at)) + d
            up = self.whole(self.tenth_range(at)) + d if tie == f"upper{k}" else 0
            # A longer first range makes "far" differ between the second and third candle.
            down = 200 if k == 1 and tie.startswith("far") else None
            self.candle(o, o + b, up, down)
            prev = (o, o + b, at)

    def crows_t(self, tie, d):
        o = self.close
        white = self.candle(o, o + 100)
        prev = None
        for k in (1, 2, 3):
            at = self.at
            b = 200
            if prev is None:
                o = white[3]
                if tie == "whigh":
                    o = white[1] + 100
                    b = o - (white[1] + d)
            else:
                po, pc = prev
                o = pc + 100
                if tie == "open2a" and k == 2:
                    o = po - d
                if tie == "open2b" and k == 2:
                    o = pc + d
                if tie == "open3a" and k == 3:
                    o, b = po - d, 250
                if tie == f"close{k}":
                    b = 100 + d
                if tie == "close2" and k == 3:
                    o = pc + 50  # inside the second body, which is only 100 + d long
            down = self.whole(self.tenth_range(at)) + d if tie == f"lower{k}" else 0
            self.candle(o, o - b, None, down)
            prev = (o, o - b)

    def piercing_t(self, tie, d, dark):
        s = 1 if dark else -1  # first candle's direction
        b1 = 200
        if tie == "long1":
            b1 = self.whole(self.body_avg(self.at)) + d
        elif tie == "long2":
            b1 = 60
        o1 = self.close
        c1 = o1 + s * b1
        shadow = 0 if tie == "long2" else 50
        a = self.candle(o1, c1, shadow, shadow)
        # Open beyond the first candle's extreme (its low for piercing, high for dark cloud).
        extreme = a[1] if dark else a[2]
        o2 = extreme + s * (d if tie in ("low", "high") else 20)
        if tie == "mid":
            c2 = self.whole(c1 - s * Fraction(b1, 2)) - s * d
        elif tie == "open1":
            c2 = o1 - s * d
        else:
            c2 = c1 - s * (b1 * 7 // 10)
        if tie == "long2":
            o2 = c1 - 1
            c2 = o2 + self.whole(self.body_avg(self.at)) + d
        self.candle(o2, c2)


def generate(name, n, start, tick, vol, rng):
    tick = Decimal(tick)
    walk = Walk(rng, int(Decimal(start) / tick), vol, tick)
    assert walk.places <= 8
    while len(walk.bars) < n:
        if len(walk.bars) > 12 and rng.random() < 0.25:
            walk.planted()
        else:
            walk.random_bar()
    rows = [(name,) + tuple(walk.text(x) for x in bar) for bar in walk.bars[:n]]
    return rows, walk.discriminating


def talib_fuses_morning_star():
    """True when the installed TA-Lib evaluates the morning star's penetration threshold
    `close[2] + body[2] * 0.3` as one fused multiply-add (its FMA build, chosen at run
    time on FMA-capable CPUs). The bars below tie that threshold exactly in decimal; the
    fused and the plain computation round to different sides of the close."""
    o2, c2, c3 = 93.27, 90.07, 91.03
    body = abs(c2 - o2)
    fused = float(Fraction(body) * Fraction(0.3) + Fraction(c2))
    plain = c2 + body * 0.3
    assert (c3 > fused) and not (c3 > plain)
    rows = [(100.0, 100.6, 99.4, 100.5)] * 12
    rows += [(o2, 93.4, 89.9, c2), (89.5, 89.6, 89.3, 89.4), (89.6, 91.1, 89.55, c3)]
    a = np.array(rows, dtype=np.float64)
    return talib.CDLMORNINGSTAR(a[:, 0], a[:, 1], a[:, 2], a[:, 3])[-1] == 100


def main():
    here = Path(__file__).resolve()
    default_out = here.parents[2] / "engine" / "tests" / "data" / "talib"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()

    fused = talib_fuses_morning_star()
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"TA-Lib (python) {talib.__version__}, TA-Lib (C) {talib.__ta_version__.decode()}, "
          f"{platform.machine()}")
    print(f"CDLMORNINGSTAR penetration threshold fused (FMA build): {fused}")
    if not fused:
        print("error: this TA-Lib does not fuse the morning star's threshold; tickforge "
              "matches the FMA build (see engine/tests/data/talib/README.md)", file=sys.stderr)
        sys.exit(1)

    rng = random.Random(args.seed)
    rows = []
    discriminating = 0
    for name, n, start, tick, vol in SERIES:
        series, d = generate(name, n, start, tick, vol, rng)
        rows += series
        discriminating += d
    book = Ties(rng)
    book.run()
    rows += [("ties",) + tuple(book.text(x) for x in bar) for bar in book.bars]
    series_names = [name for name, *_ in SERIES] + ["ties"]

    expected = []
    counts = {name: {} for name, _ in PATTERNS}
    base = 0
    for name in series_names:
        idx = [i for i, r in enumerate(rows) if r[0] == name]
        assert idx == list(range(base, base + len(idx)))
        ohlc = [np.array([float(rows[i][k]) for i in idx], dtype=np.float64) for k in (1, 2, 3, 4)]
        out = {pname: getattr(talib, fname)(*ohlc) for pname, fname in PATTERNS}
        for j in range(len(idx)):
            for pname, _ in PATTERNS:
                val = int(out[pname][j])
                if val != 0:
                    expected.append((base + j, pname, val))
                    counts[pname][val] = counts[pname].get(val, 0) + 1
        base += len(idx)

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "bars.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["series", "open", "high", "low", "close"])
        w.writerows(rows)
    with open(args.out / "expected.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["index", "pattern", "value"])
        w.writerows(expected)

    print(f"{len(rows)} bars, {len(expected)} non-zero outputs -> {args.out}")
    print(f"{discriminating} planted stars close exactly on a penetration threshold that "
          "rounds differently fused and unfused")
    print(f"{book.scenarios} tie scenarios ({len(book.bars)} bars)")
    print("| pattern | hits | values |")
    print("| --- | ---: | --- |")
    for pname, _ in PATTERNS:
        c = counts[pname]
        vals = ", ".join(f"{v:+d}: {c[v]}" for v in sorted(c))
        print(f"| {pname} | {sum(c.values())} | {vals} |")


if __name__ == "__main__":
    main()
