//! Just enough of `resource.Quantity` for the node: the integer value and milli-value, rounded up as
//! upstream's `Value()` / `MilliValue()` do. Exact (integer arithmetic), so `100m` is 100 millicores and not
//! 100.00000000000001.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// `(-1)^negative * mantissa * 10^exp10 * 2^exp2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Parsed {
    negative: bool,
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

/// Significant digits kept; more are rounded up (quantities that long never occur in practice).
const MAX_DIGITS: usize = 30;

pub(crate) fn parse(q: &Quantity) -> Option<Parsed> {
    parse_str(&q.0)
}

pub(crate) fn parse_str(s: &str) -> Option<Parsed> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let mut mantissa: i128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0usize;
    let mut lost = false;
    let mut after_point = false;
    for c in num.chars() {
        if c == '.' {
            after_point = true;
            continue;
        }
        let d = (c as u8 - b'0') as i128;
        if digits < MAX_DIGITS {
            mantissa = mantissa * 10 + d;
            if mantissa > 0 {
                digits += 1;
            }
            if after_point {
                exp10 -= 1;
            }
        } else {
            lost |= d != 0;
            if !after_point {
                exp10 += 1;
            }
        }
    }
    if lost {
        mantissa += 1;
    }
    let (e10, exp2) = match suffix {
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
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => (s[1..].parse::<i32>().ok()?, 0),
        _ => return None,
    };
    Some(Parsed { negative, mantissa, exp10: exp10.checked_add(e10)?, exp2 })
}

impl Parsed {
    /// The value in units of `10^-scale`, rounded up; saturates at the i64 range.
    fn scaled_ceil(&self, scale: i32) -> i64 {
        let e10 = self.exp10.saturating_add(scale);
        let sat = if self.negative { i64::MIN } else { i64::MAX };
        let Some(mut num) = self.mantissa.checked_mul(1i128 << self.exp2) else { return sat };
        if e10 >= 0 {
            for _ in 0..e10 {
                match num.checked_mul(10) {
                    Some(n) => num = n,
                    None => return sat,
                }
            }
            let v = if self.negative { -num } else { num };
            return i64::try_from(v).unwrap_or(sat);
        }
        if -e10 > 38 {
            // Smaller than any unit we can express: a positive value rounds up to 1.
            return if num == 0 || self.negative { 0 } else { 1 };
        }
        let den = 10i128.pow((-e10) as u32);
        let q = if self.negative { -(num / den) } else { (num + den - 1) / den };
        i64::try_from(q).unwrap_or(sat)
    }

    /// Upstream `Quantity.Value()`.
    pub(crate) fn value(&self) -> i64 {
        self.scaled_ceil(0)
    }

    /// Upstream `Quantity.MilliValue()`.
    pub(crate) fn milli_value(&self) -> i64 {
        self.scaled_ceil(3)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_up_like_upstream() {
        let p = |s: &str| parse_str(s).unwrap_or_else(|| panic!("{s} parses"));
        assert_eq!(p("100m").milli_value(), 100);
        assert_eq!(p("100m").value(), 1);
        assert_eq!(p("1.5").milli_value(), 1500);
        assert_eq!(p("2").milli_value(), 2000);
        assert_eq!(p("64Mi").value(), 64 << 20);
        assert_eq!(p("1G").value(), 1_000_000_000);
        assert_eq!(p("1e3").value(), 1000);
        assert_eq!(p("0.5Ki").value(), 512);
        assert_eq!(p("1n").milli_value(), 1);
        assert!(p("0").is_zero());
        assert!(parse_str("abc").is_none());
        assert!(parse_str("1Qi").is_none());
    }
}
