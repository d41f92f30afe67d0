//! A stored conversation as Responses input items, shared between turns.
//!
//! Each turn of a conversation continued with `previous_response_id` adds a few items to a
//! history that may be megabytes long. A [`History`] is the items of one turn after its
//! parent's (an `Arc`), so a follow-up holds only its new items and every turn of one
//! conversation reads the same memory; the translator walks the items by reference.

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::Value;
use std::sync::Arc;

/// A conversation: the parent's items, then `items`.
pub struct History {
    parent: Option<Arc<History>>,
    items: Vec<Value>,
    /// Items and estimated bytes of the whole conversation, the parent's included.
    len: usize,
    bytes: usize,
}

impl History {
    /// `items` after `parent`. No items: the parent itself (a chain gets no empty links).
    pub fn after(parent: Option<&Arc<History>>, items: Vec<Value>) -> Arc<History> {
        match parent {
            Some(p) if items.is_empty() => p.clone(),
            _ => {
                let (len, bytes) = parent.map_or((0, 0), |p| (p.len, p.bytes));
                Arc::new(History {
                    parent: parent.cloned(),
                    len: len + items.len(),
                    bytes: bytes + items.iter().map(weigh).sum::<usize>(),
                    items,
                })
            }
        }
    }

    /// How many items, the parent's included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The estimated memory of the whole conversation ([`weigh`]), the parent's included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The items in order, as the slices of each turn (oldest first).
    pub fn segments(&self) -> Vec<&[Value]> {
        let mut out = Vec::new();
        let mut at = Some(self);
        while let Some(h) = at {
            if !h.items.is_empty() {
                out.push(h.items.as_slice());
            }
            at = h.parent.as_deref();
        }
        out.reverse();
        out
    }

    /// The items in order, by reference.
    pub fn iter(&self) -> impl Iterator<Item = &Value> + '_ {
        self.segments().into_iter().flatten()
    }

    /// The items in order, copied (a store that serialises the conversation, tests).
    pub fn to_vec(&self) -> Vec<Value> {
        self.iter().cloned().collect()
    }
}

impl Drop for History {
    /// Unlinks the chain one turn at a time: the default drop would recurse once per turn, and
    /// a client decides how many turns a conversation has.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(p) = next {
            next = match Arc::into_inner(p) {
                Some(mut h) => h.parent.take(),
                None => None,
            };
        }
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("len", &self.len)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// The items as one JSON array (what Redis stores).
impl Serialize for History {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for item in self.iter() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

/// The memory a JSON value holds, estimated: its text and a fixed cost per value, key and
/// container (a `serde_json::Value` is 32 bytes plus what it owns on the heap). Close to the
/// value's JSON length for the long strings that make conversations large.
pub fn weigh(v: &Value) -> usize {
    const NODE: usize = 32;
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => NODE,
        Value::String(s) => NODE + s.len(),
        Value::Array(a) => NODE + a.iter().map(weigh).sum::<usize>(),
        Value::Object(o) => {
            NODE + o
                .iter()
                .map(|(k, x)| NODE + k.len() + weigh(x))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(from: usize, n: usize) -> Vec<Value> {
        (from..from + n).map(|i| json!({"n": i})).collect()
    }

    #[test]
    fn turns_read_in_order_and_share_their_parent() {
        let first = History::after(None, items(0, 3));
        let second = History::after(Some(&first), items(3, 2));
        let branch = History::after(Some(&first), items(10, 1));
        assert_eq!(second.to_vec(), items(0, 5));
        assert_eq!(branch.len(), 4);
        assert_eq!(second.bytes(), items(0, 5).iter().map(weigh).sum::<usize>());
        // Both turns read the first turn's items where they are: one copy.
        assert!(std::ptr::eq(second.segments()[0], branch.segments()[0]));
        // No new items: the parent itself.
        assert!(Arc::ptr_eq(
            &History::after(Some(&second), Vec::new()),
            &second
        ));
        assert_eq!(serde_json::to_value(&*second).unwrap(), json!(items(0, 5)));
    }

    #[test]
    fn a_very_long_chain_drops_without_recursing() {
        let mut h = History::after(None, items(0, 1));
        for i in 1..200_000 {
            h = History::after(Some(&h), items(i, 1));
        }
        assert_eq!(h.len(), 200_000);
        assert_eq!(h.iter().nth(199_999), Some(&json!({"n": 199_999})));
        drop(h);
    }

    #[test]
    fn weight_follows_the_text() {
        let big = json!({"content": "x".repeat(100_000)});
        assert!((100_000..100_200).contains(&weigh(&big)));
        assert_eq!(weigh(&json!(null)), 32);
    }
}
