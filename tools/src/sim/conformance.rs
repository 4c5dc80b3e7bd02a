//! Every venue's simulator against the venue's adapter: what the simulator sends, the
//! engine reads back exactly, and what it injects as faults, the adapter rejects.
//!
//! Venue-specific behaviour (pings, heartbeats, authentication, Binance's properties) is
//! tested next to each venue's simulator; these checks hold for all of them, and the
//! helpers serve those tests too.

use tickforge_engine::record::{trade_flags, Side};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::venue::{
    adapter_for, AdapterEvent, AdapterOptions, ControlEvent, RejectReason, Subscription,
    VenueAdapter,
};

use super::generator::{Event, SymbolSpec};
use super::venue::{self as sim_venue, Overrides, VenueSim};
use super::SimConfig;

/// The simulator's default symbols of `venue_id` and the venue's adapter knowing them.
pub(crate) fn setup(venue_id: u8) -> (Vec<SymbolSpec>, Box<dyn VenueAdapter>) {
    let specs = SimConfig::for_venue(venue_id).symbol_specs();
    let mut table = SymbolTable::new();
    for s in &specs {
        table.add(venue_id, &s.name, false).unwrap();
    }
    let adapter = adapter_for(venue_id, &table, &AdapterOptions::default()).unwrap();
    (specs, adapter)
}

/// Everything the adapter reads in `text`, received at time 5.
pub(crate) fn parse(
    adapter: &mut dyn VenueAdapter,
    text: &str,
) -> Result<Vec<AdapterEvent>, RejectReason> {
    let mut v = Vec::new();
    adapter
        .parse(text.as_bytes(), 5, &mut |e| v.push(e))
        .map(|()| v)
}

/// The subject of the venue error in `text`, which must hold one.
pub(crate) fn error_subject(adapter: &mut dyn VenueAdapter, text: &str) -> Option<String> {
    let events = parse(adapter, text).unwrap();
    events
        .into_iter()
        .find_map(|e| match e {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => Some(subject),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no venue error in {text}"))
}

/// Sends the adapter's login and subscribe messages for `subs` to the session; returns
/// every reply.
fn subscribe(
    sess: &mut dyn VenueSim,
    adapter: &dyn VenueAdapter,
    specs: &[SymbolSpec],
    subs: &[Subscription],
) -> Vec<super::venue::Reply> {
    let mut msgs = adapter.login_messages();
    msgs.extend(adapter.subscribe_messages(subs, 1));
    msgs.iter().flat_map(|m| sess.handle(m, specs)).collect()
}

const VENUES: [u8; 7] = [
    venue::BINANCE,
    venue::COINBASE,
    venue::COINBASE_ADVANCED,
    venue::KRAKEN,
    venue::POLYGON,
    venue::BYBIT,
    venue::OKX,
];

#[test]
fn every_simulator_is_read_back_exactly_by_its_adapter() {
    for v in VENUES {
        let name = venue::name(v);
        let (specs, mut adapter) = setup(v);
        let path = sim_venue::default_path(v);
        let mut sess = sim_venue::open(v, path, &specs).unwrap();
        let subs = Subscription::product(adapter.default_channels(), &[specs[1].name.as_str()]);
        for r in subscribe(sess.as_mut(), adapter.as_ref(), &specs, &subs) {
            assert!(!r.is_error, "{name}: {}", r.text);
            assert!(
                parse(adapter.as_mut(), &r.text).is_ok(),
                "{name}: {}",
                r.text
            );
        }
        assert_eq!(sess.trade_symbols(), &[1], "{name}");
        assert_eq!(sess.quote_symbols(), &[1], "{name}");

        let ts_ns = 1_695_628_177_708_706_999u64;
        let trade = Event::Trade {
            symbol: 1,
            id: 77,
            price: 350_001_000_000,
            qty: 1_000,
            buyer_maker: true,
        };
        let mut out = String::new();
        sess.encode(&mut out, &specs[1], &trade, ts_ns, &Overrides::default());
        let events = parse(adapter.as_mut(), &out).unwrap_or_else(|e| panic!("{name}: {e} {out}"));
        let AdapterEvent::Trade(t) = events[0] else {
            panic!("{name}: {events:?}")
        };
        // Sim prices are 1e-8 units, records 1e-9.
        assert_eq!(
            (t.symbol, t.price, t.size),
            (1, 3_500_010_000_000, 10_000),
            "{name}"
        );
        // Every venue's time unit is at least a millisecond fine.
        assert!(
            t.exch_ts <= ts_ns as i64 && t.exch_ts > ts_ns as i64 - 1_000_000,
            "{name}: {}",
            t.exch_ts
        );
        // The buyer made the market, so the aggressor sold (Polygon publishes no side).
        let side = if v == venue::POLYGON {
            Side::Unknown
        } else {
            Side::Sell
        };
        assert_eq!(t.side(), side, "{name}");
        if t.flags & trade_flags::ID_UNORDERED == 0 {
            assert_eq!(t.trade_id, 77, "{name}");
        }

        let quote = Event::Quote {
            symbol: 1,
            update_id: 9,
            bid: 2_535_190_000,
            bid_qty: 3_121_000_000,
            ask: 2_536_520_000,
            ask_qty: 4_066_000_000,
        };
        out.clear();
        sess.encode(&mut out, &specs[1], &quote, ts_ns, &Overrides::default());
        let events = parse(adapter.as_mut(), &out).unwrap_or_else(|e| panic!("{name}: {e} {out}"));
        let AdapterEvent::Quote(q) = events[0] else {
            panic!("{name}: {events:?}")
        };
        assert_eq!(
            (q.symbol, q.bid, q.bid_size, q.ask, q.ask_size),
            (
                1,
                25_351_900_000,
                31_210_000_000,
                25_365_200_000,
                40_660_000_000
            ),
            "{name}"
        );

        // Injected faults are rejected, each for its reason.
        let cases = [
            (trade, sess.wrong_type_price(), None, "price"),
            (trade, sess.wrong_type_id(), None, "id"),
            (quote, sess.wrong_type_id(), None, "quote id"),
            (trade, "", Some("NOSUCH"), "symbol"),
        ];
        for (ev, raw, symbol, what) in cases {
            let unknown = symbol.map(|p| format!("{p}{}", specs[1].name));
            let ov = match what {
                "price" => Overrides {
                    price: Some(raw),
                    ..Overrides::default()
                },
                "symbol" => Overrides {
                    symbol: unknown.as_deref(),
                    ..Overrides::default()
                },
                _ => Overrides {
                    id: Some(raw),
                    ..Overrides::default()
                },
            };
            out.clear();
            sess.encode(&mut out, &specs[1], &ev, ts_ns, &ov);
            let result = parse(adapter.as_mut(), &out);
            match what {
                "price" => assert!(
                    matches!(result, Err(RejectReason::WrongType(_))),
                    "{name} {what}: {result:?} {out}"
                ),
                "symbol" => assert_eq!(result, Err(RejectReason::UnknownSymbol), "{name}"),
                // Venues without a quote id put the token in another checked field.
                _ => assert!(result.is_err(), "{name} {what}: {result:?} {out}"),
            }
        }
    }
}

#[test]
fn every_simulator_refuses_unknown_symbols_by_name_and_unsubscribes() {
    for v in VENUES {
        let name = venue::name(v);
        let (specs, mut adapter) = setup(v);
        let mut sess = sim_venue::open(v, sim_venue::default_path(v), &specs).unwrap();
        let known = Subscription::product(adapter.default_channels(), &[specs[0].name.as_str()]);
        subscribe(sess.as_mut(), adapter.as_ref(), &specs, &known);
        assert_eq!(sess.trade_symbols(), &[0], "{name}");
        let unknown = sim_venue::venue_spelling(v, "NOPEUSDT");
        let bad = Subscription::product(&adapter.default_channels()[..1], &[unknown.as_str()]);
        let replies: Vec<_> = adapter
            .subscribe_messages(&bad, 5)
            .iter()
            .flat_map(|m| sess.handle(m, &specs))
            .filter(|r| r.is_error)
            .collect();
        assert!(!replies.is_empty(), "{name}: no error for {unknown}");
        let subject = error_subject(adapter.as_mut(), &replies[0].text).unwrap_or_default();
        assert!(
            subject.to_ascii_uppercase().contains("NOPE"),
            "{name}: subject {subject:?}"
        );
        for m in adapter.unsubscribe_messages(&known[..1], 9) {
            sess.handle(&m, &specs);
        }
        assert!(sess.trade_symbols().is_empty(), "{name}");
    }
}
