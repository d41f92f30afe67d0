//! Rule 11: request parameters. What is dropped or allowed is policy (data), not code.
use serde_json::{Map, Number, Value};

use super::policy::{FixPolicy, OutOfRange, ParamRange, ALWAYS_ALLOWED};
use super::ModelCaps;

/// Applies `drop_params`, `allow_params`, the tool rules and the numeric ranges; whether
/// anything changed.
pub(crate) fn fix_params(
    req: &mut Map<String, Value>,
    policy: &FixPolicy,
    caps: ModelCaps,
) -> bool {
    let mut changed = false;
    for k in &policy.drop_params {
        changed |= req.remove(k.as_str()).is_some();
    }
    if let Some(allow) = &policy.allow_params {
        let n = req.len();
        req.retain(|k, _| ALWAYS_ALLOWED.contains(&k.as_str()) || allow.iter().any(|a| a == k));
        changed |= req.len() != n;
    }
    changed |= fix_tools(req, caps.tools, policy.strip_tool_strict);
    if let Some(r) = &policy.temperature {
        changed |= fix_float(req, "temperature", r);
    }
    if let Some(r) = &policy.top_p {
        changed |= fix_float(req, "top_p", r);
    }
    if let Some(r) = &policy.seed {
        changed |= fix_seed(req, r);
    }
    changed
}

/// Removes `tools`/`tool_choice` for a model without tools, or when `tools` is not a
/// non-empty array (a `tool_choice` without tools is an error upstream); strips
/// `function.strict`, which Hunyuan rejects.
fn fix_tools(req: &mut Map<String, Value>, tools_ok: bool, strip_strict: bool) -> bool {
    let mut changed = false;
    let keep = tools_ok
        && match req.get_mut("tools") {
            Some(Value::Array(list)) if !list.is_empty() => {
                if strip_strict {
                    for f in list.iter_mut().filter_map(|t| t.get_mut("function")) {
                        if let Some(f) = f.as_object_mut() {
                            changed |= f.remove("strict").is_some();
                        }
                    }
                }
                true
            }
            _ => false,
        };
    if !keep {
        changed |= req.remove("tools").is_some();
        changed |= req.remove("tool_choice").is_some();
    }
    changed
}

/// The value moved into the range, or None to drop it.
fn bring_into(x: f64, r: &ParamRange) -> Option<f64> {
    if x >= r.min && x <= r.max {
        return Some(x);
    }
    match r.out_of_range {
        // Not f64::clamp: it panics when a misconfigured min exceeds max.
        OutOfRange::Clamp if x < r.min => Some(r.min),
        OutOfRange::Clamp => Some(r.max),
        OutOfRange::Drop => None,
    }
}

/// A float parameter: kept if in range, else clamped or dropped; non-numbers (null
/// included) are dropped so the upstream default applies.
fn fix_float(req: &mut Map<String, Value>, key: &str, r: &ParamRange) -> bool {
    let Some(v) = req.get(key) else {
        return false;
    };
    let x = v.as_f64();
    let fixed = x.and_then(|x| bring_into(x, r));
    if fixed.is_some() && fixed == x {
        return false; // in range: keep the client's exact number
    }
    match fixed.and_then(Number::from_f64) {
        Some(n) => {
            req.insert(key.into(), Value::Number(n));
        }
        None => {
            req.remove(key);
        }
    }
    true
}

/// `seed` must be an integer in range; a non-integer is dropped, an integral float becomes
/// an integer.
fn fix_seed(req: &mut Map<String, Value>, r: &ParamRange) -> bool {
    let Some(v) = req.get("seed") else {
        return false;
    };
    let is_int = v.is_i64() || v.is_u64();
    let x = v.as_f64().filter(|x| x.fract() == 0.0);
    let fixed = x.and_then(|x| bring_into(x, r)).map(f64::round);
    if is_int && fixed.is_some() && fixed == x {
        return false;
    }
    match fixed {
        // In i64 range: seeds are small and a bound beyond it would be a config error.
        Some(s) if s.abs() < 9.0e15 => {
            req.insert("seed".into(), Value::Number((s as i64).into()));
        }
        _ => {
            req.remove("seed");
        }
    }
    true
}
