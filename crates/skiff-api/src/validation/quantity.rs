//! `resource.Quantity` (k8s.io/apimachinery v0.32 `pkg/api/resource`): parsing, exact comparison and the
//! canonical string the API server writes back.
//!
//! The value is kept exactly as decimal digits times a power of ten, so comparison never overflows.
//! Like upstream, the original spelling is kept when it is already canonical (`100m`, `2Gi`, `+1`), and
//! anything finer than a nano is rounded up (away from zero).
//!
//! This is the one quantity type of the workspace: the node side (skiff-containerspec's cgroup limits,
//! skiff-volumes' emptyDir sizes and downward API) reads it back as the kubelet does, with [`Quantity::value`] and
//! [`Quantity::milli_value`], and adds requests up with `+`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Add;

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

/// A parsed quantity: `(-1)^negative * digits * 10^exp`. The default is zero.
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

impl Default for Quantity {
    fn default() -> Quantity {
        Quantity { negative: false, digits: vec![], exp: 0, format: Format::DecimalSI, original: None }
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

/// Sum of two magnitudes (digit strings of equal length, most significant first).
fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0; a.len()];
    let mut carry = 0;
    for i in (0..a.len()).rev() {
        let v = a[i] + b[i] + carry;
        out[i] = v % 10;
        carry = v / 10;
    }
    if carry > 0 {
        out.insert(0, carry);
    }
    out
}

/// Difference of two magnitudes (equal length, `a >= b`).
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0; a.len()];
    let mut borrow = 0;
    for i in (0..a.len()).rev() {
        let (x, y) = (a[i], b[i] + borrow);
        if x >= y {
            out[i] = x - y;
            borrow = 0;
        } else {
            out[i] = x + 10 - y;
            borrow = 1;
        }
    }
    out
}

/// How many decimal places a sum may span before the smaller operand is rounded up to fit: far beyond any real
/// quantity (`1E` to `1n` is 27), and it keeps `1e2000000000 + 1` from allocating gigabytes.
const MAX_SUM_DIGITS: i64 = 1000;

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
                let scale = exponent as i64 - denom_len as i64;
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
            // Input can ask for any i32 exponent; keep the arithmetic below (normalize, rounding) far from
            // overflow. A value beyond 10^±2^30 is past anything representable downstream anyway.
            exp = (exponent as i64 - denom_len as i64).clamp(-(1 << 30), 1 << 30) as i32;
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

    /// Upstream `Quantity.Value()`: the value in whole units, rounded up, saturated to the `i64` range.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// Upstream `Quantity.MilliValue()`: the value in thousandths, rounded up, saturated to the `i64` range.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// Upstream `Quantity.ScaledValue(scale)`: the value in units of `10^scale`, rounded up (towards positive
    /// infinity: `-1.5` is `-1`), saturated to the `i64` range (where upstream's int64 fast path may overflow).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        if self.is_zero() {
            return 0;
        }
        let saturated = if self.negative { i64::MIN } else { i64::MAX };
        let len = self.digits.len() as i64;
        // digits before the decimal point in units of 10^scale; the leading digit is not zero
        let whole_len = len + i64::from(self.exp) - i64::from(scale);
        if whole_len > 19 {
            return saturated; // at least 10^19 > i64::MAX
        }
        if whole_len <= 0 {
            // strictly between -1 and 1
            return i64::from(!self.negative);
        }
        let kept = whole_len.min(len) as usize;
        let mut v: i128 = 0;
        for &d in &self.digits[..kept] {
            v = v * 10 + i128::from(d);
        }
        for _ in len..whole_len {
            v *= 10;
        }
        if !self.negative && !is_zero_digits(&self.digits[kept..]) {
            v += 1;
        }
        i64::try_from(if self.negative { -v } else { v }).unwrap_or(saturated)
    }

    /// The magnitude's digits extended with zeros down to `10^exp` (`exp <= self.exp`), `len` digits long.
    fn digits_at(&self, exp: i32, len: usize) -> Vec<u8> {
        let mut d = vec![0; len];
        let start = len - self.digits.len() - (self.exp - exp) as usize;
        d[start..start + self.digits.len()].copy_from_slice(&self.digits);
        d
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

/// Upstream `Quantity.Add`: the exact sum (unless the operands span more than [`MAX_SUM_DIGITS`] decimal places,
/// when the smaller one is first rounded up to fit), in the left operand's format (the right one's when the left
/// is zero).
impl Add for Quantity {
    type Output = Quantity;

    fn add(mut self, mut other: Quantity) -> Quantity {
        let format = if self.is_zero() { other.format } else { self.format };
        if other.is_zero() || self.is_zero() {
            let mut sum = if other.is_zero() { self } else { other };
            sum.format = format;
            sum.original = None;
            return sum;
        }
        let top = |q: &Quantity| q.digits.len() as i64 + i64::from(q.exp);
        let mut high = top(&self).max(top(&other));
        if high - i64::from(self.exp.min(other.exp)) > MAX_SUM_DIGITS {
            let scale = i32::try_from(high - MAX_SUM_DIGITS).unwrap_or(i32::MAX);
            self.round_up_to(scale);
            other.round_up_to(scale);
            // rounding up may carry into one more digit (999 → 1000)
            high = top(&self).max(top(&other));
        }
        let exp = self.exp.min(other.exp);
        let len = (high - i64::from(exp)) as usize;
        let (a, b) = (self.digits_at(exp, len), other.digits_at(exp, len));
        let (negative, digits) = if self.negative == other.negative {
            (self.negative, add_digits(&a, &b))
        } else if self.cmp_abs(&other) == Ordering::Less {
            (other.negative, sub_digits(&b, &a))
        } else {
            (self.negative, sub_digits(&a, &b))
        };
        let mut sum = Quantity { negative, digits, exp, format, original: None };
        sum.normalize();
        if sum.is_zero() {
            sum.negative = false;
        }
        sum
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
    fn absurd_exponents_do_not_overflow() {
        for s in ["10e2147483647", "1.5e-2147483648", "9.99e2147483647", "1e-2147483648"] {
            let q = parse_quantity(s).expect(s);
            let _ = q.to_string();
            let _ = q.as_f64();
        }
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

    fn q(s: &str) -> Quantity {
        parse_quantity(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn value_and_milli_value_scale_by_the_suffix() {
        let cases = [
            ("1", 1, 1000),
            ("500m", 1, 500),
            ("100m", 1, 100),
            ("0.5", 1, 500),
            (".5", 1, 500),
            ("5.", 5, 5000),
            ("1.5", 2, 1500),
            ("2k", 2000, 2_000_000),
            ("1Ki", 1024, 1_024_000),
            ("0.5Ki", 512, 512_000),
            ("64Mi", 64 << 20, (64 << 20) * 1000),
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
    fn values_round_up_and_saturate() {
        assert_eq!(q("1.0001").value(), 2);
        assert_eq!(q("1001u").milli_value(), 2);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("0.1m").milli_value(), 1);
        // towards positive infinity
        assert_eq!(q("-1.5").value(), -1);
        assert_eq!(q("-0.5").value(), 0);
        assert_eq!(q("9223372036854775807").value(), i64::MAX);
        assert_eq!(q("9223372036854775808").value(), i64::MAX);
        assert_eq!(q("-9223372036854775808").value(), i64::MIN);
        assert_eq!(q("-9223372036854775809").value(), i64::MIN);
        assert_eq!(q("8Ei").value(), i64::MAX);
        assert_eq!(q("1e2000000000").value(), i64::MAX);
        assert_eq!(q("-1e30").milli_value(), i64::MIN);
        assert_eq!(q("1.5").scaled_value(3), 1);
        assert_eq!(q("1500").scaled_value(3), 2);
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for s in ["", "1.2.3", "1x", "1 Gi", "1Gi ", "1e", "1e+", "1ki", "--1", "1Qi", "abc"] {
            assert!(parse_quantity(s).is_err(), "{s:?} accepted");
        }
        // upstream reads a missing number as zero
        for s in ["m", "Gi", "."] {
            assert!(q(s).is_zero(), "{s:?}");
        }
    }

    #[test]
    fn sums_are_exact() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("100m").cmp_value(&q("0.2")).is_lt());
        assert_eq!(q("100m") + q("900m"), q("1"));
        assert_eq!(q("1Gi") + q("1Mi"), q("1025Mi"));
        assert_eq!((q("1Gi") + q("1Mi")).canonical(), "1025Mi");
        assert_eq!(q("1.5") + q("-2"), q("-500m"));
        assert_eq!(q("-1") + q("1"), Quantity::default());
        assert!(!(q("-1") + q("1")).is_negative());
        assert_eq!(q("999m") + q("1m"), q("1"));
        assert_eq!((Quantity::default() + q("2Gi")).canonical(), "2Gi");
        assert_eq!((q("2Gi") + Quantity::default()).canonical(), "2Gi");
        assert_eq!(q("1e30") + q("1n"), q("1000000000000000000000000000000000000001n"));
        // a sum spanning more than MAX_SUM_DIGITS places rounds the smaller operand up, without allocating a
        // digit per place
        let huge = q("1e2000000000");
        assert!((huge.clone() + q("1")).cmp_value(&huge).is_gt());
        assert_eq!(Quantity::default().canonical(), "0");
        assert!(Quantity::default().is_zero());
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
