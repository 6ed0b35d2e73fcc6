//! The interactive form's fields, and the document's signatures: filled signature fields of
//! the form, and signature widgets that pages carry but the form's /Fields forgot.

use std::collections::HashSet;

use super::document::Document;
use super::error::{PdfError, Result};
use super::object::{Dictionary, Object, ObjectId};
use super::source::Source;
use super::text::decode_text_string;

/// Deeper field hierarchies are not followed.
const MAX_FIELD_DEPTH: usize = 32;

/// A node of the form's field tree.
#[derive(Clone, Debug)]
pub struct FormField {
    /// The fully qualified field name (`parent.child`).
    pub name: String,
    /// The field object, when indirect.
    pub id: Option<ObjectId>,
    /// The field dictionary (decrypted).
    pub dict: Dictionary,
    /// /FT, inherited from ancestors when absent.
    pub field_type: Option<Vec<u8>>,
}

impl FormField {
    /// Whether this is a signature field.
    pub fn is_signature(&self) -> bool {
        self.field_type.as_deref() == Some(b"Sig")
    }
}

/// A signature field whose value is a signature dictionary.
#[derive(Clone, Debug)]
pub struct SignatureField {
    /// The fully qualified field name.
    pub name: String,
    /// The field (or merged field/widget) object.
    pub field: Option<ObjectId>,
    /// The signature dictionary's object, when indirect.
    pub signature: Option<ObjectId>,
    /// The signature dictionary (decrypted, /Contents left as stored).
    pub dict: Dictionary,
}

/// Every node of the form's field tree, parents before their kids.
pub fn form_fields<S: Source>(doc: &Document<S>) -> Result<Vec<FormField>> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let catalog = doc.catalog()?;
    if let Some(form) = catalog.get(b"AcroForm") {
        let form = doc.resolve(form)?;
        if let Some(fields) = form.as_dict().and_then(|f| f.get(b"Fields")) {
            let fields = doc.resolve(fields)?;
            for field in fields.as_array().unwrap_or_default() {
                walk(doc, field, "", None, 0, &mut seen, &mut found)?;
            }
        }
    }
    Ok(found)
}

/// Lists the document's signatures in field order: the fields the form's /Fields reaches, as
/// pyHanko and EU DSS read them. A signature widget the form does not list is not one of the
/// document's signatures (poppler's pdfsig lists it too); added after a signature, the
/// later-change analysis treats it as an annotation.
pub fn signature_fields<S: Source>(doc: &Document<S>) -> Result<Vec<SignatureField>> {
    let fields = form_fields(doc)?;
    let mut signatures = Vec::new();
    for field in fields.into_iter().filter(FormField::is_signature) {
        let Some(value) = field.dict.get(b"V") else { continue };
        if let Ok(Object::Dictionary(sig)) = doc.resolve(value) {
            signatures.push(SignatureField {
                name: field.name,
                field: field.id,
                signature: value.as_reference(),
                dict: sig,
            });
        }
    }
    Ok(signatures)
}

fn walk<S: Source>(
    doc: &Document<S>,
    field: &Object,
    prefix: &str,
    inherited_type: Option<Vec<u8>>,
    depth: usize,
    seen: &mut HashSet<ObjectId>,
    found: &mut Vec<FormField>,
) -> Result<()> {
    if depth > MAX_FIELD_DEPTH {
        return Ok(());
    }
    let limit = doc.limits().form_fields;
    if found.len() >= limit {
        return Err(PdfError::Limit(format!(
            "the form has more than {limit} fields (the form field limit)"
        )));
    }
    let id = field.as_reference();
    if let Some(id) = id {
        if !seen.insert(id) {
            return Ok(());
        }
    }
    let object = match doc.resolve(field) {
        Ok(object) => object,
        Err(e @ (PdfError::Limit(_) | PdfError::Cancelled)) => return Err(e),
        Err(_) => return Ok(()),
    };
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
    let field_type =
        dict.get(b"FT").and_then(Object::as_name).map(<[u8]>::to_vec).or(inherited_type);
    let kids = dict.get(b"Kids").cloned();
    // A widget without its own /T is part of its parent field, not a field of its own.
    if dict.get(b"T").is_some() || prefix.is_empty() {
        found.push(FormField {
            name: name.clone(),
            id,
            dict: dict.clone(),
            field_type: field_type.clone(),
        });
    }
    if let Some(kids) = kids {
        let kids = doc.resolve(&kids)?;
        for kid in kids.as_array().unwrap_or_default() {
            walk(doc, kid, &name, field_type.clone(), depth + 1, seen, found)?;
        }
    }
    Ok(())
}

/// The DocMDP permission (1, 2 or 3) of a certification signature dictionary, `None` when it
/// is not one. /Reference, its entries, /TransformMethod, /TransformParams and /P may each be
/// indirect and are resolved in `doc`. A DocMDP reference whose /P is absent means 2 (12.8.2.2);
/// one whose parameters cannot be read, or whose /P is not 1, 2 or 3, means 1: the strictest
/// reading, so that a malformed certification never permits more than a well-formed one.
pub fn docmdp_permission<S: Source>(doc: &Document<S>, signature: &Dictionary) -> Option<i64> {
    const MAX_REFERENCES: usize = 16;
    let resolve = |value: &Object| doc.resolve(value).ok();
    let references = resolve(signature.get(b"Reference")?)?;
    for reference in references.as_array()?.iter().take(MAX_REFERENCES) {
        let Some(Object::Dictionary(reference)) = resolve(reference) else { continue };
        if reference.get(b"TransformMethod").and_then(resolve).as_ref().and_then(Object::as_name)
            != Some(b"DocMDP")
        {
            continue;
        }
        let Some(params) = reference.get(b"TransformParams") else { return Some(2) };
        let params = resolve(params);
        let Some(params) = params.as_ref().and_then(Object::as_dict) else { return Some(1) };
        return Some(match params.get(b"P").map(resolve) {
            None => 2,
            Some(Some(Object::Integer(p @ 1..=3))) => p,
            Some(_) => 1,
        });
    }
    None
}
