//! Preparing and completing the incremental update that carries one seal.
//!
//! The flow is built so that a document of any size is read once and never held in memory:
//! [`prepare`] reads only the objects the update changes and builds the update with an empty
//! /Contents; [`PreparedSeal::copy_original`] streams the original bytes to the output while
//! hashing them; the caller signs the digest once; [`HashedSeal::finish`] writes the update
//! with the signature in place.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use ring::digest;

use super::document::{Document, Page};
use super::error::{PdfError, Result};
use super::fields::{FormField, form_fields};
use super::image::SealImage;
use super::object::{Dictionary, Object, ObjectId, Stream};
use super::placement::{self, Placement, ResolvedRect, SealRect};
use super::source::Source;
use super::text::{pdf_date, text_string};
use super::writer::{UpdateWriter, encrypt_object, write_dict, write_real};

/// Width reserved for the four /ByteRange numbers, so that they can be filled in place.
const BYTE_RANGE_WIDTH: usize = 64;
/// Annotation flags of the seal widget: Print and Locked.
const WIDGET_FLAGS: i64 = 4 | 128;
/// Bytes read at a time when copying the original.
const COPY_CHUNK: usize = 1 << 20;

/// What one seal looks like and says.
#[derive(Clone, Debug)]
pub struct SealOptions<'a> {
    /// Name of the new signature field; `None` picks the first free `SealN`.
    pub field_name: Option<String>,
    /// Page and rectangle.
    pub placement: Placement,
    /// The picture drawn in the rectangle (required for a visible seal).
    pub image: Option<&'a SealImage>,
    /// Signing time written to /M, in seconds since the Unix epoch (UTC).
    pub signing_time: i64,
    /// /Reason.
    pub reason: Option<String>,
    /// /Location.
    pub location: Option<String>,
    /// /ContactInfo.
    pub contact_info: Option<String>,
    /// Make this a certification signature (DocMDP, P=2: form filling and signing allowed).
    pub certify: bool,
    /// Bytes reserved for the DER signature in /Contents (written as twice as many hex digits).
    /// `stamp` reads 0 as "what the certificate chain's signatures need".
    pub contents_size: usize,
    /// Empty signature fields to create in the same update, for later seals.
    pub reserve_fields: Vec<ReservedField>,
}

/// An update ready except for its signature.
#[derive(Debug)]
pub struct PreparedSeal {
    original_len: u64,
    update: Vec<u8>,
    /// Offset in `update` of the `<` that opens /Contents.
    contents_at: usize,
    contents_size: usize,
    byte_range: [u64; 4],
    field_name: String,
}

/// The digests computed while copying the original.
pub struct HashedSeal {
    prepared: PreparedSeal,
    /// SHA-256 of the original document.
    input_sha256: [u8; 32],
    /// SHA-256 over the /ByteRange: what the signature must cover.
    document_digest: [u8; 32],
    /// Running SHA-256 of the output, fed up to the opening of /Contents.
    output: digest::Context,
}

/// Facts about a finished seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedDocument {
    /// SHA-256 of the input document.
    pub input_sha256: [u8; 32],
    /// SHA-256 of the sealed document.
    pub output_sha256: [u8; 32],
    /// Length of the sealed document.
    pub output_len: u64,
    /// The /ByteRange of the new signature.
    pub byte_range: [u64; 4],
    /// The signature field's name.
    pub field_name: String,
}

/// The objects an update rewrites, loaded once and changed in place.
struct Changes<'d, S: Source> {
    doc: &'d Document<S>,
    changed: BTreeMap<ObjectId, Object>,
}

impl<S: Source> Changes<'_, S> {
    fn get(&mut self, id: ObjectId) -> Result<&mut Object> {
        if !self.changed.contains_key(&id) {
            let object = self.doc.object(id)?;
            self.changed.insert(id, object);
        }
        // Just inserted when missing.
        self.changed
            .get_mut(&id)
            .ok_or_else(|| PdfError::Malformed(format!("object {id} vanished")))
    }

    fn dict(&mut self, id: ObjectId, what: &str) -> Result<&mut Dictionary> {
        match self.get(id)? {
            Object::Dictionary(d) => Ok(d),
            Object::Stream(s) => Ok(&mut s.dict),
            other => Err(PdfError::Malformed(format!("{what} ({id}) is a {}", other.type_name()))),
        }
    }

    /// Appends `item` to the array stored under `key` of the dictionary `owner`, following an
    /// indirect array so that only the array object is rewritten.
    fn append_to_array(
        &mut self,
        owner: ObjectId,
        key: &[u8],
        item: Object,
        what: &str,
    ) -> Result<()> {
        let current = self.dict(owner, what)?.get(key).cloned();
        if let Some(list) = self.appended(current, item)? {
            self.dict(owner, what)?.set(key, list);
        }
        Ok(())
    }

    /// Appends `item` to a list value: a direct array, a reference to an array object, or
    /// nothing. Returns the value the owner must now hold, or `None` when an indirect array
    /// was extended in place. A reference to a missing object counts as no list (writing to
    /// that number could collide with the update's own objects).
    fn appended(&mut self, current: Option<Object>, item: Object) -> Result<Option<Object>> {
        match current {
            Some(Object::Reference(id)) => {
                let known =
                    self.changed.contains_key(&id) || !matches!(self.doc.object(id)?, Object::Null);
                if !known {
                    return Ok(Some(Object::Array(vec![item])));
                }
                match self.get(id)? {
                    Object::Array(items) => {
                        items.push(item);
                        Ok(None)
                    }
                    other => Err(PdfError::Malformed(format!(
                        "{id} should be an array but is a {}",
                        other.type_name()
                    ))),
                }
            }
            Some(Object::Array(mut items)) => {
                items.push(item);
                Ok(Some(Object::Array(items)))
            }
            _ => Ok(Some(Object::Array(vec![item]))),
        }
    }
}

/// Builds the update for one seal on `doc`.
///
/// When `options.field_name` names an existing empty signature field, the seal fills that
/// field (at the field's own rectangle; `placement.rect` must then be `None`). Otherwise a new
/// field is created on the placement's page.
pub fn prepare<S: Source>(doc: &Document<S>, options: &SealOptions<'_>) -> Result<PreparedSeal> {
    let page = doc.page(options.placement.page_index(doc.page_count()?)?)?;
    let form = FormState::read(doc, &page)?;
    if form.docmdp_permission == Some(1) {
        return Err(PdfError::NotPermitted(
            "it is certified with no changes permitted (DocMDP P=1)".into(),
        ));
    }
    if options.certify && (form.has_signatures || form.docmdp_permission.is_some()) {
        return Err(PdfError::NotPermitted(
            "a certification seal must be the first signature of the document, and this one is already signed".into(),
        ));
    }
    let existing = match &options.field_name {
        Some(name) => form.fields.iter().find(|f| f.name == *name),
        None => None,
    };
    let mut plan = Plan::new(doc)?;
    let field_name = match existing {
        Some(field) => {
            if !field.is_signature() || field.dict.get(b"V").is_some() {
                return Err(PdfError::NotPermitted(format!(
                    "a field named {:?} already exists and is not an empty signature field",
                    field.name
                )));
            }
            if options.placement.rect.is_some() {
                return Err(PdfError::Placement(format!(
                    "the empty signature field {:?} has its own rectangle: seal into it without giving one",
                    field.name
                )));
            }
            plan.fill_field(field, options.image)?;
            field.name.clone()
        }
        None => {
            let name = match &options.field_name {
                Some(name) => usable_name(name)?,
                None => (1..)
                    .map(|i| format!("Seal{i}"))
                    .find(|n| form.is_free(n))
                    .unwrap_or_else(|| "Seal".into()),
            };
            let visible = options.placement.rect.is_some();
            if form.docmdp_permission == Some(2) && visible {
                let empty = form.empty_signature_fields();
                return Err(PdfError::NotPermitted(format!(
                    "it is certified (DocMDP P=2), which permits signing existing signature fields but no new visible ones: {}",
                    if empty.is_empty() {
                        "seal it invisibly".to_string()
                    } else {
                        format!(
                            "seal into one of its empty fields ({}) or seal invisibly",
                            empty.join(", ")
                        )
                    }
                )));
            }
            plan.new_field(&name, &page, options.placement.rect.as_ref(), options.image, true)?;
            name
        }
    };
    for reserved in &options.reserve_fields {
        let name = usable_name(&reserved.name)?;
        if !form.is_free(&name)
            || name == field_name
            || options.reserve_fields.iter().filter(|r| r.name == name).count() > 1
        {
            return Err(PdfError::NotPermitted(format!(
                "the field name {name:?} is already taken"
            )));
        }
        let reserved_page = doc.page(reserved.placement.page_index(doc.page_count()?)?)?;
        plan.new_field(&name, &reserved_page, reserved.placement.rect.as_ref(), None, false)?;
    }
    if options.certify {
        plan.certify()?;
    }
    plan.write(options, field_name)
}

/// Field names must be non-empty and must not contain the hierarchy separator.
fn usable_name(name: &str) -> Result<String> {
    if name.is_empty() || name.contains('.') {
        return Err(PdfError::NotPermitted(format!(
            "{name:?} is not a usable field name (empty or containing '.')"
        )));
    }
    Ok(name.to_string())
}

/// An empty signature field created in the same update, for a later seal (useful with a
/// certification seal: DocMDP P=2 permits filling existing signature fields only).
#[derive(Clone, Debug, PartialEq)]
pub struct ReservedField {
    /// The field name.
    pub name: String,
    /// Where its widget goes (no rectangle: an invisible field).
    pub placement: Placement,
}

/// The objects of one update as they are worked out.
struct Plan<'d, S: Source> {
    doc: &'d Document<S>,
    root: ObjectId,
    catalog: Dictionary,
    changes: Changes<'d, S>,
    new_objects: Vec<(ObjectId, Object)>,
    next: u32,
    sig_id: ObjectId,
}

impl<'d, S: Source> Plan<'d, S> {
    fn new(doc: &'d Document<S>) -> Result<Self> {
        let next = doc.next_object_number()?;
        Ok(Plan {
            doc,
            root: doc.root_id()?,
            catalog: doc.catalog()?,
            changes: Changes { doc, changed: BTreeMap::new() },
            new_objects: Vec::new(),
            next: next + 1,
            sig_id: ObjectId::new(next, 0),
        })
    }

    fn new_id(&mut self) -> ObjectId {
        let id = ObjectId::new(self.next, 0);
        self.next += 1;
        id
    }

    /// Adds the appearance (form XObject, image, soft mask) and returns the /AP dictionary.
    fn appearance(&mut self, at: &ResolvedRect, image: &SealImage) -> Object {
        let ap_id = self.new_id();
        let image_id = self.new_id();
        let smask_id = image.alpha.as_ref().map(|_| self.new_id());
        self.new_objects
            .push((ap_id, appearance_stream(at.display_size, at.matrix, image, image_id)));
        self.new_objects.push((
            image_id,
            image_xobject(image.width, image.height, b"DeviceRGB", image.rgb.clone(), smask_id),
        ));
        if let (Some(smask_id), Some(alpha)) = (smask_id, &image.alpha) {
            self.new_objects.push((
                smask_id,
                image_xobject(image.width, image.height, b"DeviceGray", alpha.clone(), None),
            ));
        }
        Object::Dictionary([(b"N".to_vec(), Object::Reference(ap_id))].into_iter().collect())
    }

    /// A new signature field (merged with its widget) on the placement's page; `signed` sets
    /// its value to this update's signature.
    fn new_field(
        &mut self,
        name: &str,
        page: &Page,
        rect: Option<&SealRect>,
        image: Option<&SealImage>,
        signed: bool,
    ) -> Result<()> {
        let resolved = rect.map(|r| placement::resolve(page, r)).transpose()?;
        if signed && resolved.is_some() && image.is_none() {
            return Err(PdfError::Image("a visible seal needs a seal image".into()));
        }
        let widget_id = self.new_id();
        let mut widget = Dictionary::new();
        widget.set(b"Type".to_vec(), Object::name("Annot"));
        widget.set(b"Subtype".to_vec(), Object::name("Widget"));
        widget.set(b"FT".to_vec(), Object::name("Sig"));
        widget.set(b"T".to_vec(), Object::string(text_string(name)));
        if signed {
            widget.set(b"V".to_vec(), Object::Reference(self.sig_id));
        }
        widget.set(b"F".to_vec(), Object::Integer(WIDGET_FLAGS));
        widget.set(b"P".to_vec(), Object::Reference(page.id));
        widget.set(b"Rect".to_vec(), reals(&resolved.map(|r| r.rect).unwrap_or([0.0; 4])));
        if let (Some(at), Some(image), true) = (&resolved, image, signed) {
            let ap = self.appearance(at, image);
            widget.set(b"AP".to_vec(), ap);
        }
        self.new_objects.push((widget_id, Object::Dictionary(widget)));
        self.changes.append_to_array(
            page.id,
            b"Annots",
            Object::Reference(widget_id),
            "the page",
        )?;
        self.add_to_form(widget_id)
    }

    /// Signs the existing empty signature `field`: its value, and the appearance of its widget.
    fn fill_field(&mut self, field: &FormField, image: Option<&SealImage>) -> Result<()> {
        let Some(field_id) = field.id else {
            return Err(PdfError::Unsupported(format!(
                "the signature field {:?} is not an indirect object",
                field.name
            )));
        };
        // The widget is the field itself (merged) or its first kid.
        let widget_id = if field.dict.get(b"Subtype").and_then(Object::as_name) == Some(b"Widget") {
            field_id
        } else {
            let kids = self.doc.resolve(field.dict.get(b"Kids").unwrap_or(&Object::Null))?;
            kids.as_array().unwrap_or_default().iter().find_map(Object::as_reference).ok_or_else(
                || {
                    PdfError::Malformed(format!(
                        "the signature field {:?} has no widget",
                        field.name
                    ))
                },
            )?
        };
        let widget = self.doc.dict(widget_id, "a signature widget")?;
        let (page, in_annots) = self.page_of_widget(widget_id, &widget)?;
        let rect: Vec<f64> = self
            .doc
            .resolve(widget.get(b"Rect").unwrap_or(&Object::Null))?
            .as_array()
            .unwrap_or_default()
            .iter()
            .filter_map(Object::as_f64)
            .collect();
        let at = match rect.as_slice() {
            [a, b, c, d] => ResolvedRect::from_user_rect(&page, [*a, *b, *c, *d]),
            _ => ResolvedRect::from_user_rect(&page, [0.0; 4]),
        };
        if at.is_visible() {
            let image =
                image.ok_or_else(|| PdfError::Image("a visible seal needs a seal image".into()))?;
            let ap = self.appearance(&at, image);
            self.changes.dict(widget_id, "a signature widget")?.set(b"AP".to_vec(), ap);
        }
        let sig_id = self.sig_id;
        self.changes
            .dict(field_id, "a signature field")?
            .set(b"V".to_vec(), Object::Reference(sig_id));
        if !in_annots {
            self.changes.append_to_array(
                page.id,
                b"Annots",
                Object::Reference(widget_id),
                "the page",
            )?;
        }
        self.set_sig_flags()
    }

    /// The page a widget sits on (its /P, else the page whose /Annots lists it), and whether
    /// that page's /Annots lists it.
    fn page_of_widget(&self, widget_id: ObjectId, widget: &Dictionary) -> Result<(Page, bool)> {
        let wanted = widget.get(b"P").and_then(Object::as_reference);
        let lists_widget = |page: &Page| -> Result<bool> {
            let annots = match page.dict.get(b"Annots") {
                Some(a) => self.doc.resolve(a)?,
                None => Object::Null,
            };
            Ok(annots.as_array().unwrap_or_default().contains(&Object::Reference(widget_id)))
        };
        let pages = self.doc.pages()?;
        // The widget's /P first; else the page whose /Annots lists it.
        if let Some(page) = pages.iter().find(|p| Some(p.id) == wanted) {
            let listed = lists_widget(page)?;
            return Ok((page.clone(), listed));
        }
        for page in pages {
            if lists_widget(&page)? {
                return Ok((page, true));
            }
        }
        Err(PdfError::Malformed("a signature widget is on no page".into()))
    }

    /// Lists `field` in the form's /Fields (making a form when there is none) and sets /SigFlags.
    fn add_to_form(&mut self, field: ObjectId) -> Result<()> {
        let form_ref = self.catalog.get(b"AcroForm").and_then(Object::as_reference);
        // A form this update made: list the field there.
        if let Some((_, Object::Dictionary(form))) =
            self.new_objects.iter_mut().find(|(id, _)| Some(*id) == form_ref)
        {
            if let Some(Object::Array(fields)) = form.get(b"Fields").cloned() {
                let mut fields = fields;
                fields.push(Object::Reference(field));
                form.set(b"Fields".to_vec(), Object::Array(fields));
                return Ok(());
            }
        }
        match self.catalog.get(b"AcroForm").cloned() {
            Some(Object::Reference(form_id)) if self.doc.object(form_id)?.as_dict().is_some() => {
                self.changes.append_to_array(
                    form_id,
                    b"Fields",
                    Object::Reference(field),
                    "the interactive form",
                )?;
            }
            Some(Object::Dictionary(mut form)) => {
                if let Some(fields) =
                    self.changes.appended(form.get(b"Fields").cloned(), Object::Reference(field))?
                {
                    form.set(b"Fields".to_vec(), fields);
                }
                self.catalog.set(b"AcroForm".to_vec(), Object::Dictionary(form));
            }
            _ => {
                let form_id = self.new_id();
                let mut form = Dictionary::new();
                form.set(b"Fields".to_vec(), Object::Array(vec![Object::Reference(field)]));
                form.set(b"SigFlags".to_vec(), Object::Integer(3));
                self.new_objects.push((form_id, Object::Dictionary(form)));
                self.catalog.set(b"AcroForm".to_vec(), Object::Reference(form_id));
                return Ok(());
            }
        }
        self.set_sig_flags()
    }

    /// /SigFlags 3 (signatures exist, append only), rewriting the form only when needed.
    fn set_sig_flags(&mut self) -> Result<()> {
        let flags = Object::Integer(3);
        match self.catalog.get(b"AcroForm").cloned() {
            Some(Object::Reference(form_id))
                if !self.new_objects.iter().any(|(id, _)| *id == form_id) =>
            {
                let form = match self.changes.changed.get(&form_id) {
                    Some(o) => o.as_dict().cloned().unwrap_or_default(),
                    None => self.doc.dict(form_id, "the interactive form")?,
                };
                if form.get(b"SigFlags") != Some(&flags) {
                    self.changes
                        .dict(form_id, "the interactive form")?
                        .set(b"SigFlags".to_vec(), flags);
                }
            }
            Some(Object::Dictionary(mut form)) if form.get(b"SigFlags") != Some(&flags) => {
                form.set(b"SigFlags".to_vec(), flags);
                self.catalog.set(b"AcroForm".to_vec(), Object::Dictionary(form));
            }
            _ => {}
        }
        Ok(())
    }

    /// Makes this update's signature the document's certification (DocMDP P=2).
    fn certify(&mut self) -> Result<()> {
        let mut perms = match self.catalog.get(b"Perms") {
            Some(p) => self.doc.resolve(p)?.as_dict().cloned().unwrap_or_default(),
            None => Dictionary::new(),
        };
        perms.set(b"DocMDP".to_vec(), Object::Reference(self.sig_id));
        self.catalog.set(b"Perms".to_vec(), Object::Dictionary(perms));
        Ok(())
    }

    /// Serialises the update: signature dictionary, changed and new objects, xref, trailer.
    fn write(mut self, options: &SealOptions<'_>, field_name: String) -> Result<PreparedSeal> {
        let doc = self.doc;
        let original_catalog = doc.catalog()?;
        if self.catalog != original_catalog {
            // The catalog may already be among the changes (a hostile file can make /Annots or
            // /Fields the catalog itself): merge into it rather than overwrite.
            let current = self.changes.dict(self.root, "the document catalog")?;
            for (k, v) in self.catalog.iter() {
                if current.get(k) != Some(v) {
                    current.set(k.to_vec(), v.clone());
                }
            }
        }
        let crypt = doc.crypt();
        // The cross-reference stream, when one is written, takes the next number; /Size
        // counts it only then.
        let xref_stream_id = ObjectId::new(self.next, 0);
        let size = self.next;

        let source = doc.source();
        let original_len = source.len();
        let last_byte = source.read_range(original_len.saturating_sub(1), 1)?.first().copied();
        let mut writer = UpdateWriter::new(original_len, last_byte);
        // The signature dictionary first, so that its placeholders sit early in the update.
        let sig_body = signature_dictionary(options, self.sig_id, crypt)?;
        let body_at = writer.add_raw(self.sig_id, &sig_body.bytes);
        let base_in_update = (body_at - original_len) as usize;
        let mut all: Vec<(ObjectId, Object)> = self.changes.changed.into_iter().collect();
        all.append(&mut self.new_objects);
        all.sort_by_key(|(id, _)| *id);
        for (id, object) in all {
            writer.add(id, &encrypt_object(crypt, id, object));
        }
        let mut trailer = Dictionary::new();
        for key in [&b"Root"[..], b"Info", b"ID", b"Encrypt"] {
            if let Some(v) = doc.trailer().get(key) {
                trailer.set(key, v.clone());
            }
        }
        if trailer.get(b"ID").is_none() {
            let seed = digest::digest(
                &digest::SHA256,
                format!("eseal-id:{original_len}:{}", doc.xref().startxref).as_bytes(),
            );
            let id = Object::String(seed.as_ref()[..16].to_vec(), super::object::StringFormat::Hex);
            trailer.set(b"ID".to_vec(), Object::Array(vec![id.clone(), id]));
        }
        let kind = doc.xref().sections[0].kind;
        let mut update = writer.finish(kind, trailer, doc.xref().startxref, size, xref_stream_id);

        // Fill in /ByteRange now that every offset is known.
        let contents_at = base_in_update + sig_body.contents_at;
        let contents_end = original_len + (contents_at + 2 + 2 * options.contents_size) as u64;
        let total = original_len + update.len() as u64;
        let byte_range = [0, original_len + contents_at as u64, contents_end, total - contents_end];
        let text =
            format!("{} {} {} {}", byte_range[0], byte_range[1], byte_range[2], byte_range[3]);
        let range_at = base_in_update + sig_body.byte_range_at;
        update[range_at..range_at + text.len()].copy_from_slice(text.as_bytes());
        Ok(PreparedSeal {
            original_len,
            update,
            contents_at,
            contents_size: options.contents_size,
            byte_range,
            field_name,
        })
    }
}

/// The existing interactive form: its fields and the document's permissions.
struct FormState {
    fields: Vec<FormField>,
    names: HashSet<String>,
    has_signatures: bool,
    docmdp_permission: Option<i64>,
}

impl FormState {
    /// Reads the form, and the /Annots of `page` for signature widgets that /Fields forgot.
    /// Other pages are not scanned (that would cost a read of every page per seal); the
    /// form's /SigFlags "signatures exist" bit covers signatures anywhere.
    fn read<S: Source>(doc: &Document<S>, page: &Page) -> Result<FormState> {
        let fields = form_fields(doc)?;
        let mut names: HashSet<String> = fields.iter().map(|f| f.name.clone()).collect();
        let mut has_signatures =
            fields.iter().any(|f| f.is_signature() && f.dict.get(b"V").is_some());
        let catalog = doc.catalog()?;
        if let Some(form) = catalog.get(b"AcroForm") {
            let flags = doc
                .resolve(form)?
                .as_dict()
                .and_then(|f| f.get(b"SigFlags"))
                .and_then(Object::as_i64)
                .unwrap_or(0);
            has_signatures |= flags & 1 == 1;
        }
        if let Some(annots) = page.dict.get(b"Annots") {
            for annot in doc.resolve(annots)?.as_array().unwrap_or_default().iter().take(10_000) {
                let Ok(Object::Dictionary(widget)) = doc.resolve(annot) else { continue };
                if widget.get(b"FT").and_then(Object::as_name) == Some(b"Sig")
                    && widget.get(b"Parent").is_none()
                {
                    has_signatures |= widget.get(b"V").is_some();
                    if let Some(Object::String(name, _)) = widget.get(b"T") {
                        names.insert(super::text::decode_text_string(name));
                    }
                }
            }
        }
        let mut docmdp_permission = None;
        if let Some(perms) = catalog.get(b"Perms") {
            let perms = doc.resolve(perms)?;
            if let Some(sig) = perms.as_dict().and_then(|p| p.get(b"DocMDP")) {
                let sig = doc.resolve(sig)?;
                // /Perms /DocMDP names the certification: without a readable DocMDP reference
                // it still certifies, with the default permission (P=2).
                docmdp_permission = Some(
                    sig.as_dict()
                        .map_or(1, |sig| super::fields::docmdp_permission(doc, sig).unwrap_or(2)),
                );
            }
        }
        Ok(FormState { fields, names, has_signatures, docmdp_permission })
    }

    fn is_free(&self, name: &str) -> bool {
        !self.names.contains(name)
    }

    fn empty_signature_fields(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.is_signature() && f.dict.get(b"V").is_none())
            .map(|f| f.name.clone())
            .collect()
    }
}

struct SignatureBody {
    bytes: Vec<u8>,
    byte_range_at: usize,
    contents_at: usize,
}

fn signature_dictionary(
    options: &SealOptions<'_>,
    sig_id: ObjectId,
    crypt: Option<&super::crypt::Crypt>,
) -> Result<SignatureBody> {
    let mut dict = Dictionary::new();
    dict.set(b"Type".to_vec(), Object::name("Sig"));
    dict.set(b"Filter".to_vec(), Object::name("Adobe.PPKLite"));
    dict.set(b"SubFilter".to_vec(), Object::name("ETSI.CAdES.detached"));
    dict.set(b"M".to_vec(), Object::string(pdf_date(options.signing_time)?));
    for (key, value) in [
        (&b"Reason"[..], &options.reason),
        (b"Location", &options.location),
        (b"ContactInfo", &options.contact_info),
    ] {
        if let Some(v) = value {
            dict.set(key, Object::string(text_string(v)));
        }
    }
    if options.certify {
        let mut params = Dictionary::new();
        params.set(b"Type".to_vec(), Object::name("TransformParams"));
        params.set(b"P".to_vec(), Object::Integer(2));
        params.set(b"V".to_vec(), Object::name("1.2"));
        let mut reference = Dictionary::new();
        reference.set(b"Type".to_vec(), Object::name("SigRef"));
        reference.set(b"TransformMethod".to_vec(), Object::name("DocMDP"));
        reference.set(b"TransformParams".to_vec(), Object::Dictionary(params));
        dict.set(b"Reference".to_vec(), Object::Array(vec![Object::Dictionary(reference)]));
    }
    let Object::Dictionary(dict) = encrypt_object(crypt, sig_id, Object::Dictionary(dict)) else {
        return Err(PdfError::Malformed("internal: the signature dictionary changed type".into()));
    };
    let mut bytes = Vec::new();
    write_dict(&mut bytes, &dict);
    bytes.truncate(bytes.len() - 2); // reopen the dictionary: drop ">>"
    bytes.extend_from_slice(b"/ByteRange [");
    let byte_range_at = bytes.len();
    bytes.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
    bytes.extend_from_slice(b"]/Contents ");
    let contents_at = bytes.len();
    bytes.push(b'<');
    bytes.extend(std::iter::repeat_n(b'0', 2 * options.contents_size));
    bytes.extend_from_slice(b">>>");
    Ok(SignatureBody { bytes, byte_range_at, contents_at })
}

/// Numbers the engine computes (rectangles, matrices), rounded to 1/10000 pt.
fn round(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn reals(values: &[f64]) -> Object {
    Object::Array(
        values
            .iter()
            .map(|v| round(*v))
            .map(|v| {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    Object::Integer(v as i64)
                } else {
                    Object::Real(v)
                }
            })
            .collect(),
    )
}

fn appearance_stream(
    size: (f64, f64),
    matrix: [f64; 6],
    image: &SealImage,
    image_id: ObjectId,
) -> Object {
    let (w, h) = size;
    // Fit the picture into the box keeping its proportions, centred.
    let scale = (w / f64::from(image.width)).min(h / f64::from(image.height));
    let (iw, ih) = (f64::from(image.width) * scale, f64::from(image.height) * scale);
    let mut content = b"q ".to_vec();
    for v in [iw, 0.0, 0.0, ih, (w - iw) / 2.0, (h - ih) / 2.0] {
        write_real(&mut content, round(v));
        content.push(b' ');
    }
    content.extend_from_slice(b"cm /Seal Do Q");
    let mut dict = Dictionary::new();
    dict.set(b"Type".to_vec(), Object::name("XObject"));
    dict.set(b"Subtype".to_vec(), Object::name("Form"));
    dict.set(b"BBox".to_vec(), reals(&[0.0, 0.0, w, h]));
    dict.set(b"Matrix".to_vec(), reals(&matrix));
    let xobjects: Dictionary =
        [(b"Seal".to_vec(), Object::Reference(image_id))].into_iter().collect();
    let resources: Dictionary =
        [(b"XObject".to_vec(), Object::Dictionary(xobjects))].into_iter().collect();
    dict.set(b"Resources".to_vec(), Object::Dictionary(resources));
    Object::Stream(Stream { dict, data: content })
}

fn image_xobject(
    width: u32,
    height: u32,
    colour_space: &[u8],
    data: Vec<u8>,
    smask: Option<ObjectId>,
) -> Object {
    let mut dict = Dictionary::new();
    dict.set(b"Type".to_vec(), Object::name("XObject"));
    dict.set(b"Subtype".to_vec(), Object::name("Image"));
    dict.set(b"Width".to_vec(), Object::Integer(i64::from(width)));
    dict.set(b"Height".to_vec(), Object::Integer(i64::from(height)));
    dict.set(b"ColorSpace".to_vec(), Object::Name(colour_space.to_vec()));
    dict.set(b"BitsPerComponent".to_vec(), Object::Integer(8));
    dict.set(b"Filter".to_vec(), Object::name("FlateDecode"));
    if let Some(smask) = smask {
        dict.set(b"SMask".to_vec(), Object::Reference(smask));
    }
    Object::Stream(Stream { dict, data })
}

impl PreparedSeal {
    /// The /ByteRange of the new signature.
    pub fn byte_range(&self) -> [u64; 4] {
        self.byte_range
    }

    /// The name of the new signature field.
    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// Bytes reserved for the DER signature.
    pub fn contents_size(&self) -> usize {
        self.contents_size
    }

    /// Copies the original document from `source` to `out`, hashing it on the way, and
    /// returns the digest the signature must cover. `source` must be the document given to
    /// [`prepare`]; a source of another length is refused.
    pub fn copy_original<S: Source + ?Sized, W: Write>(
        self,
        source: &S,
        out: &mut W,
    ) -> Result<HashedSeal> {
        if source.len() != self.original_len {
            return Err(PdfError::Malformed(
                "the document changed between preparing and copying".into(),
            ));
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        let mut buf = vec![0u8; COPY_CHUNK.min(self.original_len as usize).max(1)];
        let mut offset = 0u64;
        while offset < self.original_len {
            let n = source.read_at(offset, &mut buf)?;
            if n == 0 {
                return Err(PdfError::Truncated("the document ended early while copying".into()));
            }
            ctx.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            offset += n as u64;
        }
        Ok(self.hashed(ctx))
    }

    /// Like [`PreparedSeal::copy_original`] for callers that already hashed the original
    /// (for example while receiving it) and will write it themselves.
    pub fn with_original_digest(self, original: digest::Context) -> HashedSeal {
        self.hashed(original)
    }

    fn hashed(self, mut ctx: digest::Context) -> HashedSeal {
        let input = ctx.clone().finish();
        ctx.update(&self.update[..self.contents_at]);
        let output = ctx.clone();
        let contents_end = self.contents_at + 2 + 2 * self.contents_size;
        ctx.update(&self.update[contents_end..]);
        let mut input_sha256 = [0u8; 32];
        input_sha256.copy_from_slice(input.as_ref());
        let mut document_digest = [0u8; 32];
        document_digest.copy_from_slice(ctx.finish().as_ref());
        HashedSeal { prepared: self, input_sha256, document_digest, output }
    }
}

impl HashedSeal {
    /// The SHA-256 digest over the /ByteRange, to be signed.
    pub fn document_digest(&self) -> &[u8; 32] {
        &self.document_digest
    }

    /// SHA-256 of the original document.
    pub fn input_sha256(&self) -> &[u8; 32] {
        &self.input_sha256
    }

    /// Writes the update with `signature` (DER CMS) in /Contents to `out`.
    pub fn finish<W: Write>(self, out: &mut W, signature: &[u8]) -> Result<SealedDocument> {
        let HashedSeal { prepared, input_sha256, mut output, .. } = self;
        if signature.len() > prepared.contents_size {
            return Err(PdfError::SignatureTooLarge {
                size: signature.len(),
                reserved: prepared.contents_size,
            });
        }
        let mut update = prepared.update;
        let hex_at = prepared.contents_at + 1;
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for (i, b) in signature.iter().enumerate() {
            update[hex_at + 2 * i] = HEX[usize::from(b >> 4)];
            update[hex_at + 2 * i + 1] = HEX[usize::from(b & 15)];
        }
        output.update(&update[prepared.contents_at..]);
        out.write_all(&update)?;
        let mut output_sha256 = [0u8; 32];
        output_sha256.copy_from_slice(output.finish().as_ref());
        Ok(SealedDocument {
            input_sha256,
            output_sha256,
            output_len: prepared.original_len + update.len() as u64,
            byte_range: prepared.byte_range,
            field_name: prepared.field_name,
        })
    }
}
