//! Candlestick patterns (being written).
