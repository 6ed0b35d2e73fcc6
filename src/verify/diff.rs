//! What later revisions changed after a signature, and whether each change is one that keeps
//! the signature meaningful: adding signatures, signature fields, annotations, document
//! timestamps and /DSS validation data. Anything else is a modification after signing.

use std::collections::HashSet;

use serde::Serialize;

use crate::pdf::{Dictionary, Document, Object, ObjectId, PdfError, Source};

/// One object that differs between the signed revision and the final file.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Change {
    /// The object number.
    pub object: u32,
    /// What the object is (page, catalog, form, signature, ...).
    pub role: String,
    /// What changed.
    pub description: String,
    /// Whether the change is permitted after signing.
    pub allowed: bool,
}

/// The object roles the signed revision gives meaning to.
struct Roles {
    root: ObjectId,
    form: Option<ObjectId>,
    dss: Option<ObjectId>,
    /// Indirect /Annots and /Fields arrays.
    lists: HashSet<ObjectId>,
    /// Objects reachable from /DSS (validation data, freely updated).
    dss_parts: HashSet<ObjectId>,
}

/// Lists the differences between `signed` (the document as the signature covered it) and
/// `current` (the whole file).
///
/// `certification` is the DocMDP permission of a certification signature (1, 2 or 3): after
/// P=1 nothing may change, after P=2 no new visible annotation or field may appear.
pub fn changes_since<A: Source, B: Source>(signed: &Document<A>, current: &Document<B>, certification: Option<i64>) -> Result<Vec<Change>, PdfError> {
    let roles = Roles::read(signed)?;
    let mut out = Vec::new();
    let mut numbers: Vec<u32> = current.xref().entries.keys().copied().collect();
    numbers.sort_unstable();
    let mut added = Vec::new();
    for number in numbers {
        let new_entry = current.xref().entries.get(&number).copied();
        let old_entry = signed.xref().entries.get(&number).copied();
        if new_entry == old_entry {
            continue; // same place in the same bytes: unchanged
        }
        let id = generation_of(current, number);
        let old = signed.object(ObjectId::new(number, id.generation)).unwrap_or(Object::Null);
        let new = match current.object(id) {
            Ok(o) => o,
            Err(e) => {
                out.push(Change { object: number, role: "object".into(), description: format!("unreadable: {e}"), allowed: false });
                continue;
            }
        };
        if old == new {
            continue;
        }
        if old == Object::Null {
            added.push((number, new));
            continue;
        }
        out.push(classify(&roles, id, &old, &new));
    }
    for number in signed.xref().entries.keys() {
        let was = !matches!(signed.xref().entries.get(number), Some(crate::pdf::xref::XrefEntry::Free));
        let is = !matches!(current.xref().entries.get(number), None | Some(crate::pdf::xref::XrefEntry::Free));
        if was && !is {
            out.push(Change { object: *number, role: "object".into(), description: "deleted".into(), allowed: false });
        }
    }
    for (number, object) in added {
        let role = role_of_new(&object);
        let visible_widget = matches!(role, "annotation" | "signature field") && has_area(&object);
        let change = match certification {
            Some(p) if p <= 2 && visible_widget => Change {
                object: number,
                role: role.into(),
                description: format!("added, visible, after a certification permitting only form filling and signing (P={p})"),
                allowed: false,
            },
            _ => Change { object: number, role: role.into(), description: "added".into(), allowed: true },
        };
        out.push(change);
    }
    if certification == Some(1) {
        for change in &mut out {
            change.allowed = false;
        }
    }
    out.sort_by_key(|c| c.object);
    Ok(out)
}

fn generation_of<S: Source>(doc: &Document<S>, number: u32) -> ObjectId {
    match doc.xref().entries.get(&number) {
        Some(crate::pdf::xref::XrefEntry::InFile { generation, .. }) => ObjectId::new(number, *generation),
        _ => ObjectId::new(number, 0),
    }
}

impl Roles {
    fn read<S: Source>(doc: &Document<S>) -> Result<Roles, PdfError> {
        let root = doc.root_id()?;
        let catalog = doc.catalog()?;
        let mut roles = Roles { root, form: None, dss: None, lists: HashSet::new(), dss_parts: HashSet::new() };
        if let Some(Object::Reference(f)) = catalog.get(b"AcroForm") {
            roles.form = Some(*f);
        }
        if let Some(form) = catalog.get(b"AcroForm").map(|f| doc.resolve(f)).transpose()? {
            if let Some(Object::Reference(fields)) = form.as_dict().and_then(|f| f.get(b"Fields")) {
                roles.lists.insert(*fields);
            }
        }
        if let Some(Object::Reference(d)) = catalog.get(b"DSS") {
            roles.dss = Some(*d);
        }
        if let Some(dss) = catalog.get(b"DSS").map(|d| doc.resolve(d)).transpose()? {
            collect_references(doc, &dss, &mut roles.dss_parts, 0);
        }
        Ok(roles)
    }
}

fn collect_references<S: Source>(doc: &Document<S>, object: &Object, into: &mut HashSet<ObjectId>, depth: usize) {
    if depth > 8 || into.len() > 100_000 {
        return;
    }
    match object {
        Object::Reference(id) => {
            if into.insert(*id) {
                if let Ok(o) = doc.object(*id) {
                    if !matches!(o, Object::Stream(_)) {
                        collect_references(doc, &o, into, depth + 1);
                    }
                }
            }
        }
        Object::Array(items) => items.iter().for_each(|i| collect_references(doc, i, into, depth + 1)),
        Object::Dictionary(d) => d.iter().for_each(|(_, v)| collect_references(doc, v, into, depth + 1)),
        _ => {}
    }
}

fn role_of_new(object: &Object) -> &'static str {
    let Some(dict) = object.as_dict() else {
        return "array or value";
    };
    if dict.has_type(b"Sig") {
        "signature"
    } else if dict.has_type(b"DocTimeStamp") {
        "document timestamp"
    } else if dict.get(b"FT").and_then(Object::as_name) == Some(b"Sig") {
        "signature field"
    } else if dict.has_type(b"Annot") || dict.get(b"Subtype").and_then(Object::as_name) == Some(b"Widget") {
        "annotation"
    } else if dict.has_type(b"XObject") {
        "appearance"
    } else if dict.has_type(b"ObjStm") || dict.has_type(b"XRef") {
        "file structure"
    } else {
        "object"
    }
}

/// Whether an annotation's /Rect has an area.
fn has_area(object: &Object) -> bool {
    let rect: Vec<f64> = object
        .as_dict()
        .and_then(|d| d.get(b"Rect"))
        .and_then(Object::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(Object::as_f64)
        .collect();
    matches!(rect.as_slice(), [a, b, c, d] if (c - a).abs() > 0.0 && (d - b).abs() > 0.0)
}

/// Keys whose values differ (added, removed or changed).
fn changed_keys(old: &Dictionary, new: &Dictionary) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (k, v) in new.iter() {
        if old.get(k) != Some(v) {
            keys.push(k.to_vec());
        }
    }
    for (k, _) in old.iter() {
        if new.get(k).is_none() {
            keys.push(k.to_vec());
        }
    }
    keys
}

/// Whether every element of `old` is still in `new` (an array that only grew).
fn only_grew(old: Option<&Object>, new: Option<&Object>) -> bool {
    match (old, new) {
        (None, _) => true,
        (Some(Object::Array(a)), Some(Object::Array(b))) => a.iter().all(|x| b.contains(x)),
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn names(keys: &[Vec<u8>]) -> String {
    keys.iter().map(|k| format!("/{}", String::from_utf8_lossy(k))).collect::<Vec<_>>().join(", ")
}

fn classify(roles: &Roles, id: ObjectId, old: &Object, new: &Object) -> Change {
    let change = |role: &str, description: String, allowed: bool| Change { object: id.number, role: role.into(), description, allowed };
    if roles.dss == Some(id) || roles.dss_parts.contains(&id) {
        return change("validation data (/DSS)", "updated".into(), true);
    }
    if roles.lists.contains(&id) {
        let allowed = only_grew(Some(old), Some(new));
        return change("field list", if allowed { "fields added".into() } else { "fields removed or replaced".into() }, allowed);
    }
    let (Some(old_d), Some(new_d)) = (old.as_dict(), new.as_dict()) else {
        if let (Object::Array(_), Object::Array(_)) = (old, new) {
            // An indirect /Annots array of some page: only additions are allowed.
            let allowed = only_grew(Some(old), Some(new));
            return change("array", if allowed { "entries added".into() } else { "entries removed or replaced".into() }, allowed);
        }
        return change("object", "rewritten".into(), false);
    };
    if matches!((old, new), (Object::Stream(a), Object::Stream(b)) if a.data != b.data) {
        return change(role_of_existing(roles, id, old_d), "stream content changed".into(), false);
    }
    let keys = changed_keys(old_d, new_d);
    let (role, allowed_keys): (&str, &[&[u8]]) = if id == roles.root {
        ("catalog", &[b"AcroForm", b"DSS", b"Perms", b"Extensions", b"Version"])
    } else if roles.form == Some(id) {
        ("interactive form", &[b"Fields", b"SigFlags", b"DR", b"DA", b"NeedAppearances"])
    } else if old_d.has_type(b"Page") {
        ("page", &[b"Annots"])
    } else if old_d.get(b"FT").and_then(Object::as_name) == Some(b"Sig") {
        ("signature field", &[b"V", b"AP", b"AS", b"Lock", b"SV"])
    } else {
        (role_of_existing(roles, id, old_d), &[])
    };
    let mut disallowed: Vec<Vec<u8>> = keys.iter().filter(|k| !allowed_keys.contains(&k.as_slice())).cloned().collect();
    // Lists kept directly in the dictionary may only grow.
    for list in [&b"Annots"[..], b"Fields"] {
        if keys.iter().any(|k| k == list) && !only_grew(old_d.get(list), new_d.get(list)) {
            disallowed.push(list.to_vec());
        }
    }
    if disallowed.is_empty() {
        change(role, format!("{} updated", names(&keys)), true)
    } else {
        change(role, format!("{} changed", names(&disallowed)), false)
    }
}

fn role_of_existing(roles: &Roles, id: ObjectId, dict: &Dictionary) -> &'static str {
    if id == roles.root {
        "catalog"
    } else if dict.has_type(b"Page") {
        "page"
    } else if dict.has_type(b"Annot") {
        "annotation"
    } else if dict.has_type(b"XObject") {
        "resource"
    } else {
        "object"
    }
}
