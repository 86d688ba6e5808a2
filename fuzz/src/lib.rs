//! keyward's fuzz targets: each one feeds libFuzzer's bytes to a property in [`checks`].

pub mod checks;
