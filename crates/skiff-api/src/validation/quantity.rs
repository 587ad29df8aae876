//! `resource.Quantity` (k8s.io/apimachinery v0.32 `pkg/api/resource`): parsing, exact comparison and the
//! canonical string the API server writes back.
//!
//! The value is kept exactly as decimal digits times a power of ten, so comparison never overflows.
//! Like upstream, the original spelling is kept when it is already canonical (`100m`, `2Gi`, `+1`), and
//! anything finer than a nano is rounded up (away from zero).

use std::cmp::Ordering;
use std::fmt;

/// How a quantity prints (upstream `resource.Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `12e6`
    DecimalExponent,
    /// `12Mi`
    BinarySI,
    /// `12M`
    DecimalSI,
}

/// Why a string is not a quantity (messages of upstream's `ErrFormatWrong` / `ErrSuffix` / `ErrNumeric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    FormatWrong,
    Suffix,
    Numeric,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityError::FormatWrong => {
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            }
            QuantityError::Suffix => "unable to parse quantity's suffix",
            QuantityError::Numeric => "unable to parse numeric part of quantity",
        })
    }
}

impl std::error::Error for QuantityError {}

/// A parsed quantity: `(-1)^negative * digits * 10^exp`.
#[derive(Debug, Clone)]
pub struct Quantity {
    negative: bool,
    /// Magnitude digits, most significant first, without leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    exp: i32,
    format: Format,
    /// The input spelling when upstream keeps it (it is already canonical).
    original: Option<String>,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

/// Parses a quantity string (upstream `resource.ParseQuantity`).
pub fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    Quantity::parse(s)
}

struct Parts<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    if pos < end {
        match b[0] {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(Parts { positive, num: "0", denom: "", suffix: "" });
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == num_start { "0" } else { &s[num_start..pos] };
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let ds = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[ds..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Parts { positive, num, denom, suffix: &s[suffix_start..end] })
}

/// (base, exponent, format) of a suffix.
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => Some((2, 10, Format::BinarySI)),
        "Mi" => Some((2, 20, Format::BinarySI)),
        "Gi" => Some((2, 30, Format::BinarySI)),
        "Ti" => Some((2, 40, Format::BinarySI)),
        "Pi" => Some((2, 50, Format::BinarySI)),
        "Ei" => Some((2, 60, Format::BinarySI)),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            if rest.is_empty() {
                return None;
            }
            let e: i64 = rest.parse().ok()?;
            Some((10, i32::try_from(e).ok()?, Format::DecimalExponent))
        }
    }
}

fn double(digits: &mut Vec<u8>) {
    let mut carry = 0u8;
    for d in digits.iter_mut().rev() {
        let v = *d * 2 + carry;
        *d = v % 10;
        carry = v / 10;
    }
    if carry > 0 {
        digits.insert(0, carry);
    }
}

fn is_zero_digits(d: &[u8]) -> bool {
    d.iter().all(|&x| x == 0)
}

/// Adds one unit in the last place of a digit string.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

impl Quantity {
    fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        if s == "0" {
            return Ok(Quantity {
                negative: false,
                digits: vec![],
                exp: 0,
                format: Format::DecimalSI,
                original: Some("0".into()),
            });
        }
        let p = split(s)?;
        let (base, exponent, mut format) = interpret(p.suffix).ok_or(QuantityError::Suffix)?;
        let shifted = format!("{}{}", p.num, p.denom);
        let denom_len = p.denom.len() as i32;

        // Whether upstream's int64 fast path keeps the original spelling.
        let mut keep = false;
        match format {
            Format::DecimalExponent | Format::DecimalSI => {
                let precision = 18 - shifted.len() as i64;
                let scale = exponent - denom_len;
                if precision >= 0 && scale >= -9 {
                    keep = scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0');
                }
            }
            Format::BinarySI => {
                if p.denom.is_empty() {
                    let precision = 15 - p.num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1;
                    if precision >= 0 {
                        let value: i64 = shifted.parse().map_err(|_| QuantityError::Numeric)?;
                        keep = value & 0x07 != 0;
                    }
                }
            }
        }

        let mut digits: Vec<u8> = shifted.bytes().map(|c| c - b'0').collect();
        let mut exp = -denom_len;
        if base == 10 {
            exp += exponent;
        } else {
            for _ in 0..exponent {
                double(&mut digits);
            }
        }
        let mut q = Quantity { negative: !p.positive, digits, exp, format, original: None };
        q.normalize();
        q.round_up_to(-9);
        if format == Format::BinarySI {
            let max = Quantity::from_i64(i64::MAX);
            if q.cmp_abs(&max) == Ordering::Greater {
                q.digits = max.digits;
                q.exp = max.exp;
            }
            if !q.is_zero() && q.cmp_abs(&Quantity::from_i64(1)) == Ordering::Less {
                format = Format::DecimalSI;
            }
        }
        q.format = format;
        if q.is_zero() {
            q.negative = false;
        }
        if keep {
            q.original = Some(s.to_string());
        }
        Ok(q)
    }

    fn from_i64(v: i64) -> Quantity {
        let mut q = Quantity {
            negative: v < 0,
            digits: v.unsigned_abs().to_string().bytes().map(|c| c - b'0').collect(),
            exp: 0,
            format: Format::DecimalSI,
            original: None,
        };
        q.normalize();
        q
    }

    /// Strips leading and trailing zero digits, moving trailing ones into the exponent.
    fn normalize(&mut self) {
        let lead = self.digits.iter().take_while(|&&d| d == 0).count();
        self.digits.drain(..lead);
        while self.digits.last() == Some(&0) {
            self.digits.pop();
            self.exp += 1;
        }
        if self.digits.is_empty() {
            self.exp = 0;
        }
    }

    /// Rounds the magnitude up to a multiple of `10^scale`; returns whether that lost precision.
    fn round_up_to(&mut self, scale: i32) -> bool {
        if self.digits.is_empty() || self.exp >= scale {
            return false;
        }
        let drop = (scale - self.exp) as usize;
        let lost = if drop >= self.digits.len() {
            let lost = !is_zero_digits(&self.digits);
            self.digits = vec![1];
            lost
        } else {
            let keep = self.digits.len() - drop;
            let lost = !is_zero_digits(&self.digits[keep..]);
            self.digits.truncate(keep);
            if lost {
                increment(&mut self.digits);
            }
            lost
        };
        self.exp = scale;
        self.normalize();
        self.original = None;
        lost
    }

    /// Upstream `Quantity.RoundUp(-3)` as applied by `SetDefaults_ResourceList`: sub-milli precision is
    /// rounded up to a milli.
    pub fn round_up_milli(&mut self) {
        self.round_up_to(-3);
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative && !self.is_zero()
    }

    /// The format the quantity prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is a whole number (upstream checks `MilliValue() % 1000 == 0`).
    pub fn is_integer(&self) -> bool {
        self.is_zero() || self.exp >= 0
    }

    /// Compares magnitudes exactly.
    fn cmp_abs(&self, other: &Quantity) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let oa = self.digits.len() as i64 + self.exp as i64;
        let ob = other.digits.len() as i64 + other.exp as i64;
        if oa != ob {
            return oa.cmp(&ob);
        }
        let n = self.digits.len().max(other.digits.len());
        for i in 0..n {
            let a = self.digits.get(i).copied().unwrap_or(0);
            let b = other.digits.get(i).copied().unwrap_or(0);
            if a != b {
                return a.cmp(&b);
            }
        }
        Ordering::Equal
    }

    /// Exact numeric comparison (upstream `Quantity.Cmp`).
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_abs(other),
            (true, true) => other.cmp_abs(self),
        }
    }

    /// An approximate float value, for messages and ratios.
    pub fn as_f64(&self) -> f64 {
        let text: String = self.digits.iter().map(|d| (b'0' + d) as char).collect();
        let v = format!(
            "{}{}e{}",
            if self.negative { "-" } else { "" },
            if text.is_empty() { "0" } else { &text },
            self.exp
        )
        .parse::<f64>()
        .unwrap_or(0.0);
        v
    }

    /// The integer value when it is whole and fits in i128 (used for binary formatting).
    fn as_i128(&self) -> Option<i128> {
        if self.exp < 0 && !self.is_zero() {
            return None;
        }
        let mut v: i128 = 0;
        for &d in &self.digits {
            v = v.checked_mul(10)?.checked_add(d as i128)?;
        }
        for _ in 0..self.exp {
            v = v.checked_mul(10)?;
        }
        Some(if self.negative { -v } else { v })
    }

    /// The canonical string (upstream `Quantity.String()`).
    pub fn canonical(&self) -> String {
        if let Some(o) = &self.original {
            return o.clone();
        }
        if self.is_zero() {
            return "0".to_string();
        }
        let mut format = self.format;
        let mut int_value = None;
        if format == Format::BinarySI {
            let small = self.cmp_abs(&Quantity::from_i64(1024)) == Ordering::Less;
            int_value = self.as_i128();
            if small || int_value.is_none() {
                format = Format::DecimalSI;
            }
        }
        match (format, int_value) {
            (Format::BinarySI, Some(mut v)) => {
                let mut e = 0;
                while v != 0 && v % 1024 == 0 && e < 6 {
                    v /= 1024;
                    e += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e];
                format!("{v}{suffix}")
            }
            _ => {
                let mut digits = self.digits.clone();
                let mut exp = self.exp;
                while exp.rem_euclid(3) != 0 {
                    digits.push(0);
                    exp -= 1;
                }
                let number: String = digits.iter().map(|d| (b'0' + d) as char).collect();
                let sign = if self.negative { "-" } else { "" };
                let suffix = if format == Format::DecimalExponent {
                    if exp == 0 {
                        String::new()
                    } else {
                        format!("e{exp}")
                    }
                } else {
                    match exp {
                        -9 => "n",
                        -6 => "u",
                        -3 => "m",
                        3 => "k",
                        6 => "M",
                        9 => "G",
                        12 => "T",
                        15 => "P",
                        18 => "E",
                        _ => "",
                    }
                    .to_string()
                };
                format!("{sign}{number}{suffix}")
            }
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Parses the JSON form of a quantity: a string, or a bare number (upstream unmarshals its text).
pub fn quantity_from_json(v: &serde_json::Value) -> Result<Quantity, QuantityError> {
    match v {
        serde_json::Value::String(s) => parse_quantity(s.trim()),
        serde_json::Value::Number(n) => parse_quantity(&n.to_string()),
        _ => Err(QuantityError::FormatWrong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        parse_quantity(s).unwrap().canonical()
    }

    #[test]
    fn canonical_forms_match_upstream() {
        assert_eq!(c("100m"), "100m");
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1.5"), "1500m");
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("1000"), "1k");
        assert_eq!(c("1024"), "1024");
        assert_eq!(c("2Gi"), "2Gi");
        assert_eq!(c("1024Mi"), "1Gi");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("128Mi"), "128Mi");
        assert_eq!(c("1e3"), "1e3");
        assert_eq!(c("0m"), "0");
        assert_eq!(c("+1"), "+1");
        assert_eq!(c("-1"), "-1");
        assert_eq!(c("0.0000000001"), "1n");
        assert_eq!(c("512Ki"), "512Ki");
    }

    #[test]
    fn bad_quantities_are_rejected() {
        assert_eq!(parse_quantity("abc").unwrap_err(), QuantityError::FormatWrong);
        assert_eq!(parse_quantity("1Zi").unwrap_err(), QuantityError::FormatWrong);
        assert_eq!(parse_quantity("1e").unwrap_err(), QuantityError::Suffix);
        assert_eq!(parse_quantity("").unwrap_err(), QuantityError::FormatWrong);
    }

    #[test]
    fn comparison_is_exact() {
        let a = parse_quantity("250m").unwrap();
        let b = parse_quantity("0.5").unwrap();
        assert_eq!(a.cmp_value(&b), Ordering::Less);
        assert_eq!(parse_quantity("1Gi").unwrap().cmp_value(&parse_quantity("1024Mi").unwrap()), Ordering::Equal);
        assert_eq!(parse_quantity("1G").unwrap().cmp_value(&parse_quantity("1Gi").unwrap()), Ordering::Less);
        assert_eq!(parse_quantity("-1").unwrap().cmp_value(&parse_quantity("0").unwrap()), Ordering::Less);
    }

    #[test]
    fn round_up_milli_like_resource_list_defaults() {
        let mut q = parse_quantity("0.5m").unwrap();
        q.round_up_milli();
        assert_eq!(q.canonical(), "1m");
        let mut q = parse_quantity("250m").unwrap();
        q.round_up_milli();
        assert_eq!(q.canonical(), "250m");
    }
}
