//! Kubernetes resource quantities (`500m`, `1Gi`, `1e3`, `.5`), parsed exactly as `resource.ParseQuantity` accepts
//! them, and read back the way the kubelet reads them: `MilliValue()` and `Value()` round up.
//!
//! A quantity is kept as an integer number of nano-units (`i128`), which is exact for everything the API server
//! accepts short of absurd precision (finer than 1n rounds up, as upstream's rounding to a scale would).

use std::cmp::Ordering;

/// A parsed quantity, in nano-units (1 = 1n, 10⁹ = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity {
    nanos: i128,
}

/// Why a quantity string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantity {0:?}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
pub struct QuantityError(pub String);

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let err = || QuantityError(s.to_string());
        let (negative, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        // <digits>, <digits>.<digits>, <digits>. or .<digits>
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (number, suffix) = rest.split_at(num_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(err());
        }
        let mut mantissa: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            mantissa = mantissa.checked_mul(10).and_then(|m| m.checked_add(i128::from(b - b'0'))).ok_or_else(err)?;
        }
        let frac = i32::try_from(frac_part.len()).map_err(|_| err())?;
        let (pow10, pow1024) = parse_suffix(suffix).ok_or_else(err)?;
        // nanos = mantissa × 10^(pow10 - frac + 9) × 1024^pow1024
        let mut value = mantissa;
        for _ in 0..pow1024 {
            value = value.checked_mul(1024).ok_or_else(err)?;
        }
        let exp = pow10 - frac + 9;
        let nanos = if exp >= 0 {
            10i128.checked_pow(exp as u32).and_then(|p| value.checked_mul(p)).ok_or_else(err)?
        } else {
            match 10i128.checked_pow((-exp) as u32) {
                Some(d) => ceil_div(value, d),
                None => i128::from(value > 0), // smaller than 1n: rounds up to 1n (or to 0)
            }
        };
        Ok(Quantity { nanos: if negative { -nanos } else { nanos } })
    }

    /// `MilliValue()`: the value in thousandths, rounded up, saturated to `i64`.
    pub fn milli_value(&self) -> i64 {
        saturate(ceil_div(self.nanos, 1_000_000))
    }

    /// `Value()`: the value in units, rounded up, saturated to `i64`.
    pub fn value(&self) -> i64 {
        saturate(ceil_div(self.nanos, NANO))
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn cmp_zero(&self) -> Ordering {
        self.nanos.cmp(&0)
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;

    /// Saturating: sums of API quantities never come near `i128`'s range.
    fn add(self, other: Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_add(other.nanos) }
    }
}

/// `(power of ten, power of 1024)` of a suffix.
fn parse_suffix(s: &str) -> Option<(i32, u32)> {
    Some(match s {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        _ => {
            // decimal exponent: e<signed int> or E<signed int>
            let exp = s.strip_prefix('e').or_else(|| s.strip_prefix('E'))?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // beyond ±1000 nothing representable remains; upstream refuses such exponents too
            let e: i32 = exp.parse().ok().filter(|e: &i32| e.abs() <= 1000)?;
            (e, 0)
        }
    })
}

fn ceil_div(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    if n.rem_euclid(d) == 0 {
        q
    } else {
        q + 1
    }
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn suffixes_scale_the_number() {
        let cases = [
            ("1", 1, 1000),
            ("500m", 1, 500),
            ("0.5", 1, 500),
            (".5", 1, 500),
            ("5.", 5, 5000),
            ("2k", 2000, 2_000_000),
            ("1Ki", 1024, 1_024_000),
            ("128Mi", 134_217_728, 134_217_728_000),
            ("1Gi", 1 << 30, (1i64 << 30) * 1000),
            ("1G", 1_000_000_000, 1_000_000_000_000),
            ("1e3", 1000, 1_000_000),
            ("1E3", 1000, 1_000_000),
            ("1.5e-3", 1, 2),
            ("+3", 3, 3000),
            ("0", 0, 0),
            ("100n", 1, 1),
            ("100u", 1, 1),
            ("1E", 1_000_000_000_000_000_000, i64::MAX),
        ];
        for (s, value, milli) in cases {
            assert_eq!((q(s).value(), q(s).milli_value()), (value, milli), "{s}");
        }
    }

    #[test]
    fn values_round_up() {
        assert_eq!(q("1.0001").value(), 2);
        assert_eq!(q("1001u").milli_value(), 2);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("0.1m").milli_value(), 1);
        assert_eq!(q("-1.5").value(), -1);
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for s in ["", "m", "1.2.3", "1x", "1 Gi", "1Gi ", "Gi", "1e", "1e+", "1ki", "--1", "."] {
            assert!(Quantity::parse(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn comparisons_and_sums_are_exact() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("100m") < q("0.2"));
        assert_eq!(q("100m") + q("900m"), q("1"));
        assert_eq!(q("0m").cmp_zero(), Ordering::Equal);
    }
}
