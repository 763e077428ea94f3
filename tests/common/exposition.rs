//! A strict reader of the Prometheus text exposition (format 0.0.4) as the
//! edge must write it, for tests that check `/metrics` is well formed and not
//! only that it holds the right numbers (`metrics.rs` reads values leniently).
//! Its own self-test, `the_strict_parser_refuses_what_it_should`, lives in
//! `tests/metrics_exposition.rs` so it runs once, not in every test binary.

use std::collections::{BTreeMap, BTreeSet};

use super::Sample;

/// A metric family of the text exposition (format 0.0.4).
#[derive(Debug)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// A strict reader of the Prometheus text format as the edge must write it:
/// every line is `# HELP`, `# TYPE` or a sample; each family has one HELP and
/// one TYPE before its samples, which are contiguous; names and label names
/// are valid, label values use only the `\\`, `\"` and `\n` escapes, no label
/// is repeated, no series appears twice, values are floats; counters are
/// finite and non-negative (and the edge's are named `_total`); histograms
/// have increasing `le` buckets ending at `+Inf`, cumulative counts, and
/// `_count` equal to the `+Inf` bucket.
pub fn parse_exposition(text: &str) -> Result<Vec<Family>, String> {
    if !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut seen_series: BTreeSet<String> = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            check_metric_name(name).map_err(at)?;
            check_help_escapes(help).map_err(at)?;
            if families.iter().any(|f| f.name == name) || !helped.insert(name.to_string()) {
                return Err(at(format!("second HELP for {name}")));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without a type".into()))?;
            if !helped.contains(name) {
                return Err(at(format!("TYPE of {name} before its HELP")));
            }
            if families.iter().any(|f| f.name == name) {
                return Err(at(format!("second TYPE for {name}")));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind}")));
            }
            families.push(Family {
                name: name.to_string(),
                kind: kind.to_string(),
                samples: Vec::new(),
            });
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(at("neither HELP, TYPE nor a sample".into()));
        } else {
            let sample = parse_sample_line(line).map_err(at)?;
            let family = families
                .last_mut()
                .ok_or_else(|| at("a sample before any TYPE".into()))?;
            let base = family.name.as_str();
            let allowed: Vec<String> = match family.kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .map(|s| format!("{base}{s}"))
                    .collect(),
                "summary" => vec![base.into(), format!("{base}_sum"), format!("{base}_count")],
                _ => vec![base.into()],
            };
            if !allowed.contains(&sample.name) {
                return Err(at(format!("sample outside its family {base}")));
            }
            if family.kind == "counter" && !(sample.value.is_finite() && sample.value >= 0.0) {
                return Err(at("a counter that is negative or not finite".into()));
            }
            if !seen_series.insert(sample.key()) {
                return Err(at("a series listed twice".into()));
            }
            family.samples.push(sample);
        }
    }
    if let Some(orphan) = helped
        .iter()
        .find(|h| !families.iter().any(|f| &f.name == *h))
    {
        return Err(format!("HELP for {orphan} without a TYPE"));
    }
    for family in &families {
        if family.name.starts_with("hls_edge_")
            && family.kind == "counter"
            && !family.name.ends_with("_total")
        {
            return Err(format!("counter {} is not named _total", family.name));
        }
        if family.kind == "histogram" {
            check_histogram(family)?;
        }
    }
    Ok(families)
}

fn check_histogram(family: &Family) -> Result<(), String> {
    // series without `le` -> (le, cumulative count) in order
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    let mut sums: BTreeSet<String> = BTreeSet::new();
    for s in &family.samples {
        let mut rest = s.clone();
        rest.labels.retain(|(k, _)| k != "le");
        rest.name = family.name.clone();
        let id = rest.key();
        if s.name.ends_with("_bucket") {
            let le = s
                .label("le")
                .ok_or_else(|| format!("{}: a bucket without le", s.key()))?;
            let le = parse_float(le).ok_or_else(|| format!("{}: le {le:?}", s.key()))?;
            buckets.entry(id).or_default().push((le, s.value));
        } else if s.name.ends_with("_count") {
            counts.insert(id, s.value);
        } else {
            sums.insert(id);
        }
    }
    for (id, list) in &buckets {
        if list.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
            return Err(format!("{id}: buckets not increasing: {list:?}"));
        }
        let last = list.last().expect("non-empty");
        if last.0 != f64::INFINITY {
            return Err(format!("{id}: no +Inf bucket"));
        }
        if counts.get(id) != Some(&last.1) || !sums.contains(id) {
            return Err(format!(
                "{id}: _count or _sum missing or not the +Inf bucket"
            ));
        }
    }
    Ok(())
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    ok.then_some(())
        .ok_or_else(|| format!("bad metric name {name:?}"))
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    ok.then_some(())
        .ok_or_else(|| format!("bad label name {name:?}"))
}

/// HELP text escapes only `\\` and `\n`.
fn check_help_escapes(help: &str) -> Result<(), String> {
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return Err("a bad escape in HELP".into());
        }
    }
    Ok(())
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') => {
            t.parse().ok()
        }
        _ => None,
    }
}

/// `name{label="value",...} value [timestamp]`, strictly.
fn parse_sample_line(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            // a label name up to '=', or the closing brace
            let (start, c) = chars.next().ok_or("unclosed labels")?;
            if c == '}' {
                rest = &inner[start + 1..];
                break;
            }
            let eq = inner[start..].find('=').ok_or("a label without '='")? + start;
            let label = &inner[start..eq];
            check_label_name(label)?;
            while chars.next_if(|(i, _)| *i < eq).is_some() {}
            chars.next(); // '='
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label}: value not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("a dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    other => value.push(other),
                }
            }
            if labels.iter().any(|(k, _)| k == label) {
                return Err(format!("label {label} repeated"));
            }
            labels.push((label.to_string(), value));
            match chars.peek().map(|(_, c)| *c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                other => return Err(format!("after label {label}: {other:?}")),
            }
        }
    }
    let fields: Vec<&str> = rest
        .strip_prefix(' ')
        .ok_or("no single space before the value")?
        .split(' ')
        .collect();
    let value = match fields.as_slice() {
        [v] => v,
        [v, ts] if ts.parse::<i64>().is_ok() => v,
        _ => return Err("not `value [timestamp]`".into()),
    };
    let value = parse_float(value).ok_or_else(|| format!("value {value:?}"))?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}
