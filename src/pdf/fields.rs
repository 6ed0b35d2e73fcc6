//! Finding the signatures of a document: filled signature fields of the interactive form,
//! and signature widgets that pages carry but the form's /Fields forgot.

use std::collections::HashSet;

use super::document::Document;
use super::error::Result;
use super::object::{Dictionary, Object, ObjectId};
use super::source::Source;
use super::text::decode_text_string;

/// Deeper field hierarchies are not followed.
const MAX_FIELD_DEPTH: usize = 32;
/// At most this many fields are examined.
const MAX_FIELDS: usize = 100_000;

/// A signature field whose value is a signature dictionary.
#[derive(Clone, Debug)]
pub struct SignatureField {
    /// The fully qualified field name (`parent.child`).
    pub name: String,
    /// The field (or merged field/widget) object.
    pub field: Option<ObjectId>,
    /// The signature dictionary's object, when indirect.
    pub signature: Option<ObjectId>,
    /// The signature dictionary (decrypted, /Contents left as stored).
    pub dict: Dictionary,
}

/// Lists the document's signatures in field order, then those only reachable from pages.
pub fn signature_fields<S: Source>(doc: &Document<S>) -> Result<Vec<SignatureField>> {
    let catalog = doc.catalog()?;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    if let Some(form) = catalog.get(b"AcroForm") {
        let form = doc.resolve(form)?;
        if let Some(fields) = form.as_dict().and_then(|f| f.get(b"Fields")) {
            let fields = doc.resolve(fields)?;
            for field in fields.as_array().unwrap_or_default() {
                walk(doc, field, "", None, 0, &mut seen, &mut found)?;
            }
        }
    }
    // Widgets missing from /Fields still sign the document.
    let count = doc.page_count()?;
    for index in 0..count {
        let page = doc.page(index)?;
        let Some(annots) = page.dict.get(b"Annots") else { continue };
        let annots = doc.resolve(annots)?;
        for annot in annots.as_array().unwrap_or_default() {
            if let Some(id) = annot.as_reference() {
                if seen.contains(&id) {
                    continue;
                }
                let dict = doc.dict(id, "an annotation").unwrap_or_default();
                if dict.get(b"FT").and_then(Object::as_name) == Some(b"Sig") && dict.get(b"Parent").is_none() {
                    walk(doc, annot, "", None, 0, &mut seen, &mut found)?;
                }
            }
        }
    }
    Ok(found)
}

fn walk<S: Source>(
    doc: &Document<S>,
    field: &Object,
    prefix: &str,
    inherited_ft: Option<Vec<u8>>,
    depth: usize,
    seen: &mut HashSet<ObjectId>,
    found: &mut Vec<SignatureField>,
) -> Result<()> {
    if depth > MAX_FIELD_DEPTH || seen.len() > MAX_FIELDS {
        return Ok(());
    }
    let id = field.as_reference();
    if let Some(id) = id {
        if !seen.insert(id) {
            return Ok(());
        }
    }
    let Ok(object) = doc.resolve(field) else { return Ok(()) };
    let Some(dict) = object.as_dict() else { return Ok(()) };
    let partial = match dict.get(b"T") {
        Some(Object::String(s, _)) => decode_text_string(s),
        _ => String::new(),
    };
    let name = match (prefix.is_empty(), partial.is_empty()) {
        (true, _) => partial,
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{partial}"),
    };
    let ft = dict.get(b"FT").and_then(Object::as_name).map(<[u8]>::to_vec).or(inherited_ft);
    if ft.as_deref() == Some(b"Sig") {
        if let Some(value) = dict.get(b"V") {
            let signature = value.as_reference();
            if let Ok(Object::Dictionary(sig)) = doc.resolve(value) {
                found.push(SignatureField { name: name.clone(), field: id, signature, dict: sig });
            }
        }
    }
    if let Some(kids) = dict.get(b"Kids") {
        let kids = doc.resolve(kids)?;
        for kid in kids.as_array().unwrap_or_default() {
            walk(doc, kid, &name, ft.clone(), depth + 1, seen, found)?;
        }
    }
    Ok(())
}
