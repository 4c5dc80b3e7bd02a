//! Unit tests on hand-made bars.

use super::*;

#[test]
fn codes_and_names_round_trip() {
    for (i, p) in Pattern::ALL.into_iter().enumerate() {
        assert_eq!(p.code(), 100 + i as u16);
        assert_eq!(Pattern::from_code(p.code()), Some(p));
        assert_eq!(Pattern::from_name(p.name()), Some(p));
    }
}
