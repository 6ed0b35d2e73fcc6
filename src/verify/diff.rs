//! What later revisions changed after a signature, and whether each change keeps the
//! signature meaningful: adding signatures, signature fields, annotations, document timestamps
//! and /DSS validation data. Anything else is a modification after signing.
//!
//! The rules are deliberately narrow, because every allowed change is a way to alter what a
//! reader shows without breaking the signed bytes (incremental saving and shadow attacks):
//! existing objects may change only in named keys of named roles, lists may only grow, new
//! objects may not fill references the signed revision already made, and the catalog may not
//! be replaced.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::pdf::xref::XrefEntry;
use crate::pdf::{Dictionary, Document, Object, ObjectId, PdfError, Source};

/// One object that differs between the signed revision and the final file.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Change {
    /// The object number (0 for the trailer).
    pub object: u32,
    /// What the object is (page, catalog, form, signature, ...).
    pub role: String,
    /// What changed.
    pub description: String,
    /// Whether the change is permitted after signing.
    pub allowed: bool,
}

/// The roles the signed revision gives to its objects.
struct Roles {
    root: ObjectId,
    form: Option<ObjectId>,
    dss: Option<ObjectId>,
    /// Indirect /Fields and page /Annots arrays: they may grow.
    lists: HashSet<ObjectId>,
    /// Page objects.
    pages: HashSet<ObjectId>,
    /// Non-stream objects below /DSS that no page uses: validation data, freely updated.
    dss_parts: HashSet<ObjectId>,
    /// Signature fields (including widgets whose parent is one): object -> filled already.
    signature_fields: HashMap<ObjectId, bool>,
    /// Every object number some object of the signed revision refers to.
    referenced: HashSet<u32>,
}

/// Lists the differences between `signed` (the document as the signature covered it, its
/// bytes ending at `covered_end`) and `current` (the whole file).
///
/// `certification` is the DocMDP permission of a certification signature (1, 2 or 3): after
/// P=1 only validation data and document timestamps may be added, after P=1 or P=2 no new
/// visible annotation or field may appear.
pub fn changes_since<A: Source, B: Source>(
    signed: &Document<A>,
    current: &Document<B>,
    covered_end: u64,
    certification: Option<i64>,
) -> Result<Vec<Change>, PdfError> {
    let roles = Roles::read(signed)?;
    let mut out = Vec::new();
    let trailer_change = |key: &[u8]| signed.trailer().get(key) != current.trailer().get(key);
    for key in [&b"Root"[..], b"Encrypt"] {
        if trailer_change(key) {
            out.push(Change {
                object: 0,
                role: "trailer".into(),
                description: format!("/{} replaced", String::from_utf8_lossy(key)),
                allowed: false,
            });
        }
    }

    let (old_entries, new_entries) = (&signed.xref().entries, &current.xref().entries);
    let mut numbers: Vec<u32> = new_entries.keys().copied().collect();
    numbers.sort_unstable();
    let mut added = Vec::new();
    for number in numbers {
        let new_entry = new_entries[&number];
        let old_entry = old_entries.get(&number).copied();
        if Some(new_entry) == old_entry && unchanged_location(new_entry, covered_end, old_entries, new_entries) {
            continue;
        }
        let new_id = ObjectId::new(number, generation(new_entry));
        let change = |description: String| Change { object: number, role: "object".into(), description, allowed: false };
        let new = match current.object(new_id) {
            Ok(o) => o,
            Err(e) => {
                out.push(change(format!("unreadable: {e}")));
                continue;
            }
        };
        match old_entry {
            None | Some(XrefEntry::Free) => {
                if roles.referenced.contains(&number) {
                    out.push(change("added where the signed revision already referred to it (a dangling reference filled in)".into()));
                } else {
                    added.push((number, new));
                }
            }
            Some(old_entry) => {
                let old_id = ObjectId::new(number, generation(old_entry));
                if old_id != new_id {
                    out.push(change(format!("replaced under generation {}", new_id.generation)));
                    continue;
                }
                match signed.object(old_id) {
                    Ok(old) if old == new => {}
                    Ok(old) => out.push(classify(&roles, signed, current, old_id, &old, &new)),
                    Err(e) => out.push(change(format!("unreadable in the signed revision: {e}"))),
                }
            }
        }
    }
    for (number, entry) in old_entries {
        if *entry != XrefEntry::Free && matches!(new_entries.get(number), None | Some(XrefEntry::Free)) {
            out.push(Change { object: *number, role: "object".into(), description: "deleted".into(), allowed: false });
        }
    }
    for (number, object) in added {
        let role = role_of_new(&object);
        let visible = matches!(role, "annotation" | "signature field") && has_area(&object);
        let description = match certification {
            Some(p) if p <= 2 && visible => {
                Some(format!("added, visible, after a certification permitting only form filling and signing (P={p})"))
            }
            Some(1) if role == "signature" => Some("an approval signature added after a certification permitting no changes (P=1)".into()),
            _ => None,
        };
        out.push(Change {
            object: number,
            role: role.into(),
            allowed: description.is_none(),
            description: description.unwrap_or_else(|| "added".into()),
        });
    }
    out.sort_by_key(|c| c.object);
    Ok(out)
}

/// Whether an entry that is the same in both revisions really points at the same signed bytes:
/// an offset inside the signed revision, or an object stream that did not change.
fn unchanged_location(entry: XrefEntry, covered_end: u64, old: &HashMap<u32, XrefEntry>, new: &HashMap<u32, XrefEntry>) -> bool {
    match entry {
        XrefEntry::Free => true,
        XrefEntry::InFile { offset, .. } => offset < covered_end,
        XrefEntry::InStream { stream, .. } => match (old.get(&stream), new.get(&stream)) {
            (Some(a), Some(b)) => a == b && unchanged_location(*a, covered_end, old, new),
            _ => false,
        },
    }
}

fn generation(entry: XrefEntry) -> u16 {
    match entry {
        XrefEntry::InFile { generation, .. } => generation,
        _ => 0,
    }
}

impl Roles {
    fn read<S: Source>(doc: &Document<S>) -> Result<Roles, PdfError> {
        let root = doc.root_id()?;
        let catalog = doc.catalog()?;
        let mut roles = Roles {
            root,
            form: catalog.get(b"AcroForm").and_then(Object::as_reference),
            dss: catalog.get(b"DSS").and_then(Object::as_reference),
            lists: HashSet::new(),
            pages: HashSet::new(),
            dss_parts: HashSet::new(),
            signature_fields: HashMap::new(),
            referenced: HashSet::new(),
        };
        if let Some(form) = catalog.get(b"AcroForm").map(|f| doc.resolve(f)).transpose()? {
            if let Some(fields) = form.as_dict().and_then(|f| f.get(b"Fields")).and_then(Object::as_reference) {
                roles.lists.insert(fields);
            }
        }
        let mut page_parts = HashSet::new();
        for page in doc.pages()? {
            roles.pages.insert(page.id);
            page_parts.insert(page.id);
            if let Some(annots) = page.dict.get(b"Annots").and_then(Object::as_reference) {
                roles.lists.insert(annots);
            }
            for key in [&b"Contents"[..], b"Resources"] {
                match page.dict.get(key) {
                    Some(Object::Reference(id)) => {
                        page_parts.insert(*id);
                        if let Ok(Object::Array(items)) = doc.object_structure(*id) {
                            page_parts.extend(items.iter().filter_map(Object::as_reference));
                        }
                    }
                    Some(Object::Array(items)) => page_parts.extend(items.iter().filter_map(Object::as_reference)),
                    _ => {}
                }
            }
        }
        for field in crate::pdf::form_fields(doc)? {
            if let (true, Some(id)) = (field.is_signature(), field.id) {
                let filled = field.dict.get(b"V").is_some();
                roles.signature_fields.insert(id, filled);
                // Widgets of the field, when separate.
                if let Some(Object::Array(kids)) = field.dict.get(b"Kids").map(|k| doc.resolve(k)).transpose()? {
                    for kid in kids.iter().filter_map(Object::as_reference) {
                        roles.signature_fields.entry(kid).or_insert(filled);
                    }
                }
            }
        }
        // Validation data: what /DSS reaches, but never an object with another role (a file
        // could make its /DSS point at page content to have it "updated" freely).
        if let Some(dss) = catalog.get(b"DSS") {
            collect_dss_parts(doc, &doc.resolve(dss)?, &mut roles.dss_parts, 0);
            let has_other_role = |id: &ObjectId| {
                page_parts.contains(id) || roles.lists.contains(id) || *id == root || Some(*id) == roles.form || roles.signature_fields.contains_key(id)
            };
            roles.dss_parts.retain(|id| !has_other_role(id));
            if roles.dss.is_some_and(|d| has_other_role(&d)) {
                roles.dss = None;
            }
        }
        // Every reference any object of the signed revision makes.
        for (number, entry) in &doc.xref().entries {
            if *entry == XrefEntry::Free {
                continue;
            }
            if let Ok(object) = doc.object_structure(ObjectId::new(*number, generation(*entry))) {
                collect_references(&object, &mut roles.referenced);
            }
        }
        Ok(roles)
    }
}

fn collect_references(object: &Object, into: &mut HashSet<u32>) {
    match object {
        Object::Reference(id) => {
            into.insert(id.number);
        }
        Object::Array(items) => items.iter().for_each(|i| collect_references(i, into)),
        Object::Dictionary(d) => d.iter().for_each(|(_, v)| collect_references(v, into)),
        Object::Stream(s) => s.dict.iter().for_each(|(_, v)| collect_references(v, into)),
        _ => {}
    }
}

/// The non-stream objects below /DSS (its arrays and VRI dictionaries); streams (certificates,
/// OCSP responses, CRLs) are never rewritten, only added.
fn collect_dss_parts<S: Source>(doc: &Document<S>, object: &Object, into: &mut HashSet<ObjectId>, depth: usize) {
    if depth > 4 || into.len() > 100_000 {
        return;
    }
    match object {
        Object::Reference(id) => {
            if let Ok(o) = doc.object_structure(*id) {
                if !matches!(o, Object::Stream(_)) && into.insert(*id) {
                    collect_dss_parts(doc, &o, into, depth + 1);
                }
            }
        }
        Object::Array(items) => items.iter().for_each(|i| collect_dss_parts(doc, i, into, depth + 1)),
        Object::Dictionary(d) => d.iter().for_each(|(_, v)| collect_dss_parts(doc, v, into, depth + 1)),
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
    let rect: Vec<f64> =
        object.as_dict().and_then(|d| d.get(b"Rect")).and_then(Object::as_array).unwrap_or_default().iter().filter_map(Object::as_f64).collect();
    matches!(rect.as_slice(), [a, b, c, d] if (c - a).abs() > 0.0 && (d - b).abs() > 0.0)
}

/// Keys whose values differ (added, removed or changed).
fn changed_keys(old: &Dictionary, new: &Dictionary) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = new.iter().filter(|(k, v)| old.get(k) != Some(*v)).map(|(k, _)| k.to_vec()).collect();
    keys.extend(old.iter().filter(|(k, _)| new.get(k).is_none()).map(|(k, _)| k.to_vec()));
    keys
}

/// Whether a list only grew: every old element is still there.
fn only_grew(old: &Object, new: &Object) -> bool {
    match (old, new) {
        (Object::Array(a), Object::Array(b)) => a.iter().all(|x| b.contains(x)),
        (a, b) => a == b,
    }
}

/// A list value (direct array or reference to one) resolved in its revision.
fn list_in<S: Source>(doc: &Document<S>, value: Option<&Object>) -> Object {
    match value {
        None => Object::Array(Vec::new()),
        Some(v) => doc.resolve(v).unwrap_or(Object::Null),
    }
}

fn names(keys: &[Vec<u8>]) -> String {
    keys.iter().map(|k| format!("/{}", String::from_utf8_lossy(k))).collect::<Vec<_>>().join(", ")
}

/// The keys an existing object of a role may change, and the list keys that may only grow.
struct Rule {
    role: &'static str,
    may_change: &'static [&'static [u8]],
    lists: &'static [&'static [u8]],
}

const CATALOG: Rule = Rule { role: "catalog", may_change: &[b"AcroForm", b"DSS", b"Extensions", b"Version"], lists: &[] };
const FORM: Rule = Rule { role: "interactive form", may_change: &[b"Fields", b"SigFlags"], lists: &[b"Fields"] };
const PAGE: Rule = Rule { role: "page", may_change: &[b"Annots"], lists: &[b"Annots"] };
const EMPTY_SIGNATURE_FIELD: Rule = Rule { role: "signature field", may_change: &[b"V", b"AP", b"AS"], lists: &[] };

fn classify<A: Source, B: Source>(roles: &Roles, signed: &Document<A>, current: &Document<B>, id: ObjectId, old: &Object, new: &Object) -> Change {
    let change = |role: &str, description: String, allowed: bool| Change { object: id.number, role: role.into(), description, allowed };
    if roles.dss == Some(id) || roles.dss_parts.contains(&id) {
        return change("validation data (/DSS)", "updated".into(), true);
    }
    if roles.lists.contains(&id) {
        let allowed = only_grew(old, new);
        return change("list of fields or annotations", if allowed { "entries added" } else { "entries removed or replaced" }.into(), allowed);
    }
    let (Some(old_d), Some(new_d)) = (old.as_dict(), new.as_dict()) else {
        return change("object", "rewritten".into(), false);
    };
    if matches!((old, new), (Object::Stream(a), Object::Stream(b)) if a.data != b.data) {
        return change("stream", "content changed".into(), false);
    }
    let rule = if id == roles.root {
        &CATALOG
    } else if roles.form == Some(id) {
        &FORM
    } else if roles.pages.contains(&id) {
        &PAGE
    } else if roles.signature_fields.get(&id) == Some(&false) {
        &EMPTY_SIGNATURE_FIELD
    } else {
        return change("object", format!("{} changed", names(&changed_keys(old_d, new_d))), false);
    };
    let keys = changed_keys(old_d, new_d);
    let mut disallowed: Vec<Vec<u8>> = keys.iter().filter(|k| !rule.may_change.contains(&k.as_slice())).cloned().collect();
    for list in rule.lists {
        if keys.iter().any(|k| k == list) && !only_grew(&list_in(signed, old_d.get(list)), &list_in(current, new_d.get(list))) {
            disallowed.push(list.to_vec());
        }
    }
    // The catalog's form may be created or replaced only by one that differs in the form's
    // own permitted ways.
    if rule.role == "catalog" && keys.iter().any(|k| k == b"AcroForm") && !form_change_allowed(signed, current, old_d, new_d) {
        disallowed.push(b"AcroForm".to_vec());
    }
    if disallowed.is_empty() {
        change(rule.role, format!("{} updated", names(&keys)), true)
    } else {
        change(rule.role, format!("{} changed", names(&disallowed)), false)
    }
}

/// A catalog's /AcroForm changed: the new form (resolved) may differ from the old only in
/// /SigFlags and a /Fields list that grew.
fn form_change_allowed<A: Source, B: Source>(signed: &Document<A>, current: &Document<B>, old_catalog: &Dictionary, new_catalog: &Dictionary) -> bool {
    let old = match old_catalog.get(b"AcroForm") {
        Some(f) => signed.resolve(f).ok().and_then(|f| f.as_dict().cloned()),
        None => Some(Dictionary::new()),
    };
    let new = new_catalog.get(b"AcroForm").and_then(|f| current.resolve(f).ok()).and_then(|f| f.as_dict().cloned());
    let (Some(old), Some(new)) = (old, new) else { return false };
    let keys = changed_keys(&old, &new);
    keys.iter().all(|k| FORM.may_change.contains(&k.as_slice()))
        && only_grew(&list_in(signed, old.get(b"Fields")), &list_in(current, new.get(b"Fields")))
}
