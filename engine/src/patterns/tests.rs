//! Hand-made bars. Every expectation here (all the patterns firing on the last bar, not
//! only the one each case is about) was checked against TA-Lib 0.8.1 (Python package
//! 0.8.2) with the same bars.

use super::*;
use crate::fixed::parse_decimal;
use crate::record::{bar_flags, Kind};

use Pattern::*;

fn bar(o: &str, h: &str, l: &str, c: &str) -> BarRecord {
    let p = |s: &str| parse_decimal(s.as_bytes()).unwrap();
    BarRecord {
        kind: Kind::Bar as u8,
        flags: bar_flags::CLOSED,
        open: p(o),
        high: p(h),
        low: p(l),
        close: p(c),
        ..Default::default()
    }
}

/// `n` identical white bars: body 0.5, range 2. After them the mean body is 0.5, 10% of the
/// mean range 0.2, "near" 0.4 and "far" 1.2.
fn calm(n: usize) -> Vec<BarRecord> {
    vec![bar("100", "101", "99", "100.5"); n]
}

fn then(mut bars: Vec<BarRecord>, more: &[(&str, &str, &str, &str)]) -> Vec<BarRecord> {
    bars.extend(more.iter().map(|&(o, h, l, c)| bar(o, h, l, c)));
    bars
}

/// Everything `scan` reports for the last bar, the others being the previous bars.
fn last(bars: &[BarRecord]) -> Vec<(Pattern, i32)> {
    let (newest, prev) = bars.split_last().unwrap();
    let mut window = BarWindow::new(200);
    for b in prev {
        window.push(*b);
    }
    let mut hits = Vec::new();
    scan(&window, newest, &mut |p, v| hits.push((p, v)));
    for p in Pattern::ALL {
        let want = hits.iter().find(|h| h.0 == p).map_or(0, |h| h.1);
        assert_eq!(value(p, &window, newest), want, "{}", p.name());
    }
    hits
}

#[test]
fn codes_and_names_round_trip() {
    for (i, p) in Pattern::ALL.into_iter().enumerate() {
        assert_eq!(p.code(), 100 + i as u16);
        assert_eq!(Pattern::from_code(p.code()), Some(p));
        assert_eq!(Pattern::from_name(p.name()), Some(p));
        assert_eq!(
            p.name(),
            format!("cdl_{}", &p.talib_name()[3..]).to_lowercase()
        );
    }
    assert_eq!(Pattern::from_code(99), None);
    assert_eq!(Pattern::from_code(115), None);
    assert_eq!(Pattern::from_name("cdl_nope"), None);
    assert_eq!(ThreeWhiteSoldiers.name(), "cdl_3whitesoldiers");
}

#[test]
fn lookbacks_are_talibs() {
    // TA_CDLxxx_Lookback() with the default settings, in `Pattern::ALL` order.
    let talib = [10, 11, 11, 11, 11, 2, 11, 11, 12, 12, 12, 13, 11, 11, 10];
    let ours: Vec<usize> = Pattern::ALL.iter().map(|p| p.lookback()).collect();
    assert_eq!(ours, talib);
    assert_eq!(
        Pattern::ALL.iter().map(|p| p.lookback()).max(),
        Some(MAX_LOOKBACK)
    );
}

#[test]
fn engulfing_is_100_and_80_when_one_end_matches() {
    let black = [("9", "9.6", "8.9", "9.5"), ("10", "10.5", "9", "9.5")];
    let white = [("9", "9.6", "8.9", "9.5"), ("9.5", "10.5", "9.4", "10")];
    let case = |prior: &[_; 2], b| then(then(vec![], prior), &[b]);
    // White body from below the black close to above the black open.
    let bull = case(&black, ("9.4", "10.6", "9.3", "10.2"));
    assert_eq!(last(&bull), [(Engulfing, 100)]);
    // Opening exactly at the black close.
    let bull80 = case(&black, ("9.5", "10.6", "9.3", "10.2"));
    assert_eq!(last(&bull80), [(Engulfing, 80)]);
    let bear = case(&white, ("10.1", "10.2", "9.3", "9.4"));
    assert_eq!(last(&bear), [(Engulfing, -100)]);
    let bear80 = case(&white, ("10", "10.2", "9.3", "9.4"));
    assert_eq!(last(&bear80), [(Engulfing, -80)]);
    // The lookback is 2: with a single previous bar TA-Lib has no output yet.
    assert_eq!(last(&bull[1..]), []);
}

#[test]
fn doji_compares_with_the_previous_ten_ranges() {
    // Range 2.5: 10% of the mean is exactly 0.25 in binary too, so a 0.25 body ties.
    let wide = vec![bar("100", "101.25", "98.75", "100.5"); 12];
    assert_eq!(
        last(&then(wide.clone(), &[("100", "101", "99", "100.25")])),
        [(Doji, 100)]
    );
    assert_eq!(last(&then(wide, &[("100", "101", "99", "100.5")])), []);
    // Range 2: 0.2 ties in decimal, but 100.2 - 100 is above 0.1 * 2.0 in binary, and
    // TA-Lib (and so this) says no.
    assert_eq!(last(&then(calm(12), &[("100", "101", "99", "100.2")])), []);
    // The lookback is 10 bars.
    assert_eq!(last(&then(calm(9), &[("100", "101", "99", "100")])), []);
    assert_eq!(
        last(&then(calm(10), &[("100", "101", "99", "100")])),
        [(Doji, 100)]
    );
}

#[test]
fn empty_bars_are_bars() {
    let mut flat = vec![bar("100", "100", "100", "100"); 11];
    for b in &mut flat {
        b.flags |= bar_flags::EMPTY;
    }
    // A zero body is at most 10% of a zero mean range.
    assert_eq!(last(&flat), [(Doji, 100)]);
}

#[test]
fn hammers_and_stars_of_one_candle() {
    let hammer = then(calm(12), &[("99.2", "99.3", "98", "99.3")]);
    assert_eq!(last(&hammer), [(Doji, 100), (Hammer, 100)]);
    // Lookback 11: with 10 previous bars the same hammer is not reported.
    assert_eq!(last(&hammer[2..]), [(Doji, 100)]);
    let hanging = then(calm(12), &[("100.7", "100.8", "99.5", "100.8")]);
    assert_eq!(last(&hanging), [(Doji, 100), (HangingMan, -100)]);
    let inverted = then(
        calm(12),
        &[
            ("100.5", "101", "99", "100"),
            ("99.5", "100.5", "99.5", "99.6"),
        ],
    );
    assert_eq!(last(&inverted), [(Doji, 100), (InvertedHammer, 100)]);
    let shooting = then(calm(12), &[("100.7", "101.5", "100.6", "100.6")]);
    assert_eq!(last(&shooting), [(Doji, 100), (ShootingStar, -100)]);
}

#[test]
fn marubozu() {
    assert_eq!(
        last(&then(calm(12), &[("100", "102", "100", "102")])),
        [(Marubozu, 100)]
    );
    assert_eq!(
        last(&then(calm(12), &[("102", "102", "100", "100")])),
        [(Engulfing, -80), (Marubozu, -100)]
    );
}

#[test]
fn harami_and_harami_cross() {
    let long_black = ("102", "102.1", "99.9", "100");
    let harami = then(
        calm(12),
        &[long_black, ("100.5", "100.9", "100.4", "100.8")],
    );
    assert_eq!(last(&harami), [(Harami, 100)]);
    // The small body starts exactly at the long body's bottom.
    let harami80 = then(calm(12), &[long_black, ("100", "100.9", "99.95", "100.3")]);
    assert_eq!(last(&harami80), [(Harami, 80)]);
    let cross = then(calm(12), &[long_black, ("101", "101.2", "100.8", "101")]);
    assert_eq!(
        last(&cross),
        [(Doji, 100), (Harami, 100), (HaramiCross, 100)]
    );
    let cross80 = then(calm(12), &[long_black, ("100", "100.2", "99.8", "100")]);
    assert_eq!(
        last(&cross80),
        [(Doji, 100), (Hammer, 100), (Harami, 80), (HaramiCross, 80)]
    );
}

#[test]
fn morning_and_evening_star() {
    let long_black = ("102", "102.1", "99.9", "100");
    let star = ("99.5", "99.7", "99.2", "99.4");
    let morning = then(
        calm(12),
        &[long_black, star, ("99.6", "101.1", "99.5", "101")],
    );
    assert_eq!(last(&morning), [(MorningStar, 100), (Marubozu, 100)]);
    // Closing 0.5 into a body of 2: short of the 0.3 penetration.
    let shallow = then(
        calm(12),
        &[long_black, star, ("99.6", "100.6", "99.5", "100.5")],
    );
    assert_eq!(last(&shallow), [(Marubozu, 100)]);
    let evening = then(
        calm(12),
        &[
            ("100", "102.1", "99.9", "102"),
            ("102.5", "102.8", "102.3", "102.6"),
            ("102.4", "102.5", "100.9", "101"),
        ],
    );
    assert_eq!(last(&evening), [(EveningStar, -100), (Marubozu, -100)]);
}

#[test]
fn star_penetration_ties_round_like_talib() {
    let before = vec![bar("100", "100.6", "99.4", "100.5"); 12];
    // 91.03 = 90.07 + 0.3 * 3.20 exactly. As one fused multiply-add the threshold rounds
    // below 91.03 (TA-Lib's build: fires); as a multiply then an add it would round to
    // 91.03 itself (no fire).
    let morning = then(
        before.clone(),
        &[
            ("93.27", "93.4", "89.9", "90.07"),
            ("89.5", "89.6", "89.3", "89.4"),
            ("89.6", "91.1", "89.55", "91.03"),
        ],
    );
    assert_eq!(last(&morning), [(MorningStar, 100), (Marubozu, 100)]);
    // 89.6 = 90.14 - 0.3 * 1.80 exactly. Unfused (TA-Lib's build) the threshold is 89.6
    // itself and the close is not below it; fused it would be.
    let evening = |close: &str, low: &str| {
        then(
            before.clone(),
            &[
                ("88.34", "90.24", "88.24", "90.14"),
                ("90.64", "90.84", "90.44", "90.74"),
                ("90.54", "90.59", low, close),
            ],
        )
    };
    assert_eq!(last(&evening("89.6", "89.59")), [(Marubozu, -100)]);
    assert_eq!(
        last(&evening("89.59", "89.58")),
        [(EveningStar, -100), (Marubozu, -100)]
    );
}

#[test]
fn three_soldiers_and_crows() {
    let soldiers = then(
        calm(12),
        &[
            ("100.5", "101.5", "100.4", "101.5"),
            ("101.2", "102.2", "101.1", "102.2"),
            ("101.9", "102.9", "101.8", "102.9"),
        ],
    );
    assert_eq!(
        last(&soldiers),
        [(ThreeWhiteSoldiers, 100), (Marubozu, 100)]
    );
    let crows = [
        ("100", "101.6", "99.9", "101.5"),
        ("101.4", "101.45", "100.4", "100.4"),
        ("100.9", "100.95", "99.4", "99.4"),
        ("99.9", "99.95", "98.4", "98.4"),
    ];
    assert_eq!(
        last(&then(calm(12), &crows)),
        [(ThreeBlackCrows, -100), (Marubozu, -100)]
    );
    // Lookback 13: with 9 calm bars the crows have only 12 bars before them.
    assert_eq!(last(&then(calm(9), &crows)), [(Marubozu, -100)]);
}

#[test]
fn piercing_and_dark_cloud_cover() {
    let long_black = ("102", "102.1", "99.9", "100");
    let piercing = then(calm(12), &[long_black, ("99.8", "101.3", "99.7", "101.2")]);
    assert_eq!(last(&piercing), [(Piercing, 100), (Marubozu, 100)]);
    // Closing exactly at the midpoint is not above it.
    let at_mid = then(calm(12), &[long_black, ("99.8", "101.3", "99.7", "101")]);
    assert_eq!(last(&at_mid), []);
    let dark = then(
        calm(12),
        &[
            ("100", "102.1", "99.9", "102"),
            ("102.2", "102.3", "100.7", "100.8"),
        ],
    );
    assert_eq!(last(&dark), [(DarkCloudCover, -100), (Marubozu, -100)]);
}

#[test]
fn a_short_window_only_silences_the_longer_lookbacks() {
    let bars = then(calm(12), &[("100", "102", "100", "102")]);
    let (newest, prev) = bars.split_last().unwrap();
    let mut window = BarWindow::new(10);
    for b in prev {
        window.push(*b);
    }
    let mut hits = Vec::new();
    scan(&window, newest, &mut |p, v| hits.push((p, v)));
    // Marubozu's lookback is 10: still there.
    assert_eq!(hits, [(Marubozu, 100)]);
}
