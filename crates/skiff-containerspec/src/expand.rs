//! `$(VAR)` expansion of env values, commands and args: a port of Kubernetes'
//! `third_party/forked/golang/expansion`.
//!
//! `$$` is an escaped `$`; `$(NAME)` is replaced by the variable's value, or left as written when the variable is
//! undefined (so a typo shows up in the process's argv instead of vanishing); an unterminated `$(` and a `$`
//! before any other character are copied as they are. Expansion is not recursive: a value that itself contains
//! `$(X)` is inserted verbatim.

/// Expands `$(VAR)` references in `input`, looking each name up with `vars`.
pub fn expand(input: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let mut chars = after.chars();
        match chars.next() {
            // a trailing `$` is literal
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after[1..].find(')') {
                Some(close) => {
                    let name = &after[1..1 + close];
                    match vars(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 2..];
                }
                // incomplete reference: `$(` is copied and scanning resumes after it
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = chars.as_str();
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "VAR_EMPTY" => Some(String::new()),
            "VAR_REF" => Some("$(VAR_A)".into()),
            _ => None,
        }
    }

    #[test]
    fn upstream_expansion_cases() {
        // the table of kubernetes' expand_test.go
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("$(VAR_A)$(VAR_B)", "AB"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("foo\\$(VAR_A)", "foo\\A"),
            ("$(VAR_EMPTY)", ""),
            ("$(VAR_REF)", "$(VAR_A)"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$(VAR_A", "$(VAR_A"),
            ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
            ("$($(VAR_B)", "$($(VAR_B)"),
            ("$()", "$()"),
            ("$VAR_A", "$VAR_A"),
            ("${VAR_A}", "${VAR_A}"),
            ("$", "$"),
            ("foo$", "foo$"),
            ("$$", "$"),
            ("$(VAR_A)$", "A$"),
            ("π$é$(VAR_A)", "π$éA"),
            ("no refs", "no refs"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &vars), want, "{input:?}");
        }
    }
}
