//! `resource.Quantity.String()`: the canonical form a quantity prints in (PV and PVC CAPACITY, quota usage).
//!
//! Upstream re-renders a parsed quantity: binary suffixes stay binary when the value is a whole number of at least
//! 1024 (`1.5Gi` prints `1536Mi`), everything else becomes decimal with an exponent that is a multiple of three
//! (`1000M` prints `1G`, `0.5` prints `500m`), and precision below a nano-unit rounds up. Values that do not fit the
//! 128-bit arithmetic used here print as written.

const DECIMAL_SUFFIXES: [(&str, i32); 10] =
    [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];
const BINARY_SUFFIXES: [(&str, u32); 6] = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)];

#[derive(Clone, Copy, PartialEq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// The canonical text of a quantity; the input unchanged when it cannot be parsed.
pub(super) fn canonical(text: &str) -> String {
    parse_and_render(text).unwrap_or_else(|| text.to_string())
}

fn parse_and_render(text: &str) -> Option<String> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = digits.parse().ok()?;
    let frac_len = i32::try_from(frac_part.len()).ok()?;

    // value = mantissa * 10^exp10
    let (format, mut exp10) = if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        (Format::DecimalSi, *e)
    } else if let Some((_, bits)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        mantissa = mantissa.checked_mul(1i128.checked_shl(*bits)?)?;
        (Format::BinarySi, 0)
    } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
        (Format::DecimalExponent, exp.parse::<i32>().ok()?)
    } else {
        return None;
    };
    exp10 -= frac_len;

    // Round anything finer than a nano-unit up, as ParseQuantity does.
    if exp10 < -9 {
        let divisor = pow10((-9 - exp10) as u32)?;
        mantissa = (mantissa + divisor - 1) / divisor;
        exp10 = -9;
    }
    if mantissa == 0 {
        return Some("0".to_string());
    }
    let sign = if negative { "-" } else { "" };

    if format == Format::BinarySi {
        if let Some(whole) = whole_value(mantissa, exp10) {
            if whole >= 1024 {
                let (mut n, mut step) = (whole, 0usize);
                while step < BINARY_SUFFIXES.len() && n % 1024 == 0 {
                    n /= 1024;
                    step += 1;
                }
                let suffix = if step == 0 { "" } else { BINARY_SUFFIXES[step - 1].0 };
                return Some(format!("{sign}{n}{suffix}"));
            }
        }
    }

    // Decimal: strip trailing zeros, then lower the exponent to a multiple of three.
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp10 += 1;
    }
    let adjust = exp10.rem_euclid(3);
    mantissa = mantissa.checked_mul(pow10(adjust as u32)?)?;
    exp10 -= adjust;
    let suffix = match format {
        Format::DecimalExponent if exp10 == 0 => String::new(),
        Format::DecimalExponent => format!("e{exp10}"),
        _ => DECIMAL_SUFFIXES
            .iter()
            .find(|(_, e)| *e == exp10)
            .map(|(s, _)| s.to_string())
            .unwrap_or_else(|| format!("e{exp10}")),
    };
    Some(format!("{sign}{mantissa}{suffix}"))
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// `mantissa * 10^exp10` when it is a whole number that fits.
fn whole_value(mantissa: i128, exp10: i32) -> Option<i128> {
    if exp10 >= 0 {
        mantissa.checked_mul(pow10(exp10 as u32)?)
    } else {
        let d = pow10((-exp10) as u32)?;
        (mantissa % d == 0).then(|| mantissa / d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_print_in_canonical_form() {
        let cases = [
            ("10Gi", "10Gi"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("1000M", "1G"),
            ("1500M", "1500M"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("512", "512"),
            ("1000", "1k"),
            ("0", "0"),
            ("0Gi", "0"),
            ("0.5Ki", "512"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("123456789012", "123456789012"),
            ("0.0000000001", "1n"),
            ("-1Gi", "-1Gi"),
            ("5Gb", "5Gb"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
