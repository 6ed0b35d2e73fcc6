//! Seal keys held in a PKCS#11 token (an HSM; SoftHSM2 in tests). The key never leaves the
//! token: it is generated there as sensitive and non-extractable, and the service asks the
//! token for each signature through a pool of logged-in sessions.
//!
//! - ECDSA P-256: SHA-256 is computed here and the token signs the digest with `CKM_ECDSA`
//!   (SoftHSM2 refuses `CKM_ECDSA_SHA256`); the raw `r || s` it returns becomes the DER
//!   `ECDSA-Sig-Value` CMS carries.
//! - RSA: `CKM_SHA256_RSA_PKCS` (PKCS#1 v1.5 with SHA-256) over the whole message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::Encode;
use der::asn1::{BitString, ObjectIdentifier, OctetStringRef, UintRef};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::{KeyAlgorithm, KeyError};
use eseal_cms::{CmsError, Signer};

/// DER of the named curve P-256 (`prime256v1`), as `CKA_EC_PARAMS` wants it.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Where the token is and how to log in to it (the `[keys.pkcs11]` section).
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: zeroize::Zeroizing<String>,
    /// How many sessions the pool keeps open.
    pub sessions: usize,
}

/// One module is initialised once per process: `C_Initialize` twice fails, and every token of
/// the module is reached through that one context.
fn context(module: &Path) -> Result<Pkcs11, KeyError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts =
        CONTEXTS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let fail = |e: CkError| KeyError::Token(format!("PKCS#11 module {}: {e}", module.display()));
    let context = Pkcs11::new(module).map_err(fail)?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(e)),
    }
    contexts.insert(module.to_path_buf(), context.clone());
    Ok(context)
}

/// A logged-in token with a pool of sessions.
pub struct Token {
    context: Pkcs11,
    slot: Slot,
    label: String,
    pin: AuthPin,
    /// The most sessions open at once.
    capacity: usize,
    pool: Mutex<Pool>,
    returned: Condvar,
}

/// The sessions of a token.
struct Pool {
    /// Logged-in sessions waiting for work.
    idle: Vec<Session>,
    /// Sessions open (idle or at work).
    open: usize,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("label", &self.label).finish_non_exhaustive()
    }
}

impl Token {
    /// Opens the token labelled `settings.token_label` and logs in: a wrong PIN, a missing
    /// token or module is an error naming it.
    pub fn open(settings: &TokenSettings) -> Result<Arc<Token>, KeyError> {
        let context = context(&settings.module)?;
        let token_error = |what: &str, e: CkError| {
            KeyError::Token(format!("token {:?}: {what}: {e}", settings.token_label))
        };
        let slots = context.get_slots_with_token().map_err(|e| token_error("listing slots", e))?;
        let mut slot = None;
        for s in slots {
            let info =
                context.get_token_info(s).map_err(|e| token_error("reading token info", e))?;
            if info.label().trim_end() == settings.token_label {
                slot = Some(s);
                break;
            }
        }
        let slot = slot.ok_or_else(|| {
            KeyError::Token(format!(
                "no token labelled {:?} in {}",
                settings.token_label,
                settings.module.display()
            ))
        })?;
        let token = Token {
            context,
            slot,
            label: settings.token_label.clone(),
            pin: AuthPin::from(settings.pin.as_str()),
            capacity: settings.sessions.max(1),
            pool: Mutex::new(Pool { idle: Vec::new(), open: 0 }),
            returned: Condvar::new(),
        };
        // Open and log in every session now: a wrong PIN is reported at start, not at the first
        // stamping, and no stamping waits for a login.
        let mut sessions = Vec::new();
        for _ in 0..token.capacity {
            sessions.push(token.new_session()?);
        }
        let mut pool = token.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.open = sessions.len();
        pool.idle = sessions;
        drop(pool);
        Ok(Arc::new(token))
    }

    /// A new read-write session, logged in as the user. In PKCS#11 the login belongs to the
    /// application, not the session: "already logged in" is success.
    fn new_session(&self) -> Result<Session, KeyError> {
        let session = self.context.open_rw_session(self.slot).map_err(|e| {
            KeyError::Token(format!("token {:?}: opening a session: {e}", self.label))
        })?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(KeyError::Token(format!(
                "token {:?} refused the PIN (wrong PIN in keys.pkcs11.pin_file / pin_env)",
                self.label
            ))),
            Err(e) => Err(KeyError::Token(format!("token {:?}: login: {e}", self.label))),
        }
    }

    /// An idle session, or a new one while the pool is below its size; otherwise waits for
    /// one to come back. Sessions are held only for one synchronous token call, so waits are short.
    fn take(&self) -> Result<Session, KeyError> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(session) = pool.idle.pop() {
                return Ok(session);
            }
            if pool.open < self.capacity {
                pool.open += 1;
                drop(pool);
                return self.new_session().inspect_err(|_| self.give_back(None));
            }
            pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Returns a session to the pool, or (`None`) frees its place: it was closed.
    fn give_back(&self, session: Option<Session>) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        match session {
            Some(session) => pool.idle.push(session),
            None => pool.open -= 1,
        }
        drop(pool);
        self.returned.notify_one();
    }

    /// Runs `work` on a pooled session. A session the token no longer knows (closed, logged
    /// out, device reset) is dropped and the work tried once more on a fresh one.
    fn with_session<T>(
        &self,
        work: impl Fn(&Session) -> Result<T, CkError>,
    ) -> Result<T, KeyError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let session = self.take()?;
            match work(&session) {
                Err(CkError::Pkcs11(
                    RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::UserNotLoggedIn,
                    _,
                )) if attempts < 2 => {
                    drop(session);
                    self.give_back(None);
                }
                result => {
                    self.give_back(Some(session));
                    return result
                        .map_err(|e| KeyError::Token(format!("token {:?}: {e}", self.label)));
                }
            }
        }
    }

    /// The private key labelled `label`: exactly one must exist.
    fn private_key(&self, label: &str) -> Result<(ObjectHandle, KeyType), KeyError> {
        let template = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let found = self.with_session(|s| s.find_objects(&template))?;
        let handle = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(KeyError::Token(format!(
                    "token {:?} holds no private key labelled {label:?}",
                    self.label
                )));
            }
            _ => {
                return Err(KeyError::Token(format!(
                    "token {:?} holds {} private keys labelled {label:?}; labels must be unique",
                    self.label,
                    found.len()
                )));
            }
        };
        let attributes =
            self.with_session(|s| s.get_attributes(handle, &[AttributeType::KeyType]))?;
        let key_type = attributes
            .into_iter()
            .find_map(|a| if let Attribute::KeyType(t) = a { Some(t) } else { None })
            .ok_or_else(|| KeyError::Token(format!("key {label:?}: no CKA_KEY_TYPE")))?;
        Ok((handle, key_type))
    }

    /// A signer over the private key labelled `label`.
    pub fn signer(self: &Arc<Self>, label: &str) -> Result<Arc<dyn Signer>, KeyError> {
        let (key, key_type) = self.private_key(label)?;
        let scheme = if key_type == KeyType::EC {
            Scheme::Ecdsa
        } else if key_type == KeyType::RSA {
            Scheme::RsaPkcs1
        } else {
            return Err(KeyError::Token(format!(
                "key {label:?} is of type {key_type}; seals use EC P-256 or RSA"
            )));
        };
        Ok(Arc::new(TokenSigner { token: Arc::clone(self), key, scheme, label: label.into() }))
    }

    /// The Ed25519 key labelled `label` (the audit log's key): its 32-byte public key, and a
    /// function signing with it (`CKM_EDDSA`, pure Ed25519) in the token.
    pub fn ed25519(
        self: &Arc<Self>,
        label: &str,
    ) -> Result<([u8; 32], eseal_audit::ExternalEd25519), KeyError> {
        let (key, key_type) = self.private_key(label)?;
        if key_type != KeyType::EC_EDWARDS {
            return Err(KeyError::Token(format!(
                "key {label:?} is of type {key_type}, not an Ed25519 (CKK_EC_EDWARDS) key"
            )));
        }
        let template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let found = self.with_session(|s| s.find_objects(&template))?;
        let [handle] = found.as_slice() else {
            return Err(KeyError::Token(format!(
                "token {:?}: expected one public key labelled {label:?}, found {}",
                self.label,
                found.len()
            )));
        };
        let attributes =
            self.with_session(|s| s.get_attributes(*handle, &[AttributeType::EcPoint]))?;
        let point = attributes
            .into_iter()
            .find_map(|a| if let Attribute::EcPoint(p) = a { Some(p) } else { None });
        let point = point
            .ok_or_else(|| KeyError::Token(format!("public key {label:?}: no CKA_EC_POINT")))?;
        // CKA_EC_POINT is the key in a DER OCTET STRING (PKCS#11 3.0), or the raw 32 bytes.
        let raw = match <OctetStringRef<'_> as der::Decode>::from_der(&point) {
            Ok(octets) => octets.as_bytes().to_vec(),
            Err(_) => point,
        };
        let public_key: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Token(format!("public key {label:?} is not 32 bytes")))?;
        let token = Arc::clone(self);
        let sign = move |message: &[u8]| {
            let mechanism = Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
                cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
            ));
            token.with_session(|s| s.sign(&mechanism, key, message)).map_err(|e| e.to_string())
        };
        Ok((public_key, Box::new(sign)))
    }

    /// The templates of a new key pair labelled `label` (public, private): in the token, an id
    /// derived from the label, the public key for verifying, the private key sensitive,
    /// non-extractable and for signing only. Refuses a label already in use.
    fn new_key_pair_templates(
        &self,
        label: &str,
    ) -> Result<(Vec<Attribute>, Vec<Attribute>), KeyError> {
        let existing = [Attribute::Label(label.as_bytes().to_vec())];
        if !self.with_session(|s| s.find_objects(&existing))?.is_empty() {
            return Err(KeyError::Token(format!(
                "token {:?} already holds an object labelled {label:?}",
                self.label
            )));
        }
        let id =
            ring::digest::digest(&ring::digest::SHA256, label.as_bytes()).as_ref()[..16].to_vec();
        let common = |private: bool| {
            vec![
                Attribute::Token(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
                Attribute::Private(private),
            ]
        };
        let mut public = common(false);
        public.push(Attribute::Verify(true));
        let mut private = common(true);
        private.extend([
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        Ok((public, private))
    }

    /// Generates an Ed25519 key pair labelled `label` in the token (for the audit log: sensitive,
    /// non-extractable, signing only); returns its 32-byte public key.
    pub fn generate_ed25519(self: &Arc<Self>, label: &str) -> Result<[u8; 32], KeyError> {
        let (mut public, private) = self.new_key_pair_templates(label)?;
        // The curve by its OID, id-Ed25519 (1.3.101.112).
        public.push(Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70]));
        self.with_session(|s| {
            s.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
        })?;
        self.ed25519(label).map(|(public_key, _)| public_key)
    }

    /// Generates a key pair labelled `label` in the token: the private key sensitive,
    /// non-extractable, for signing only. Refuses a label already in use. Returns the public
    /// key as a DER SubjectPublicKeyInfo.
    pub fn generate(&self, label: &str, algorithm: KeyAlgorithm) -> Result<Vec<u8>, KeyError> {
        let (mut public, private) = self.new_key_pair_templates(label)?;
        let mechanism = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                public.push(Attribute::EcParams(P256_PARAMS.to_vec()));
                Mechanism::EccKeyPairGen
            }
            KeyAlgorithm::Rsa3072 => {
                public.extend([
                    Attribute::ModulusBits(3072u64.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                ]);
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        let (public_key, _) =
            self.with_session(|s| s.generate_key_pair(&mechanism, &public, &private))?;
        self.public_key_info(public_key, algorithm)
    }

    /// The public key of the key pair labelled `label` as a DER SubjectPublicKeyInfo.
    pub fn public_key(&self, label: &str) -> Result<Vec<u8>, KeyError> {
        let template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let found = self.with_session(|s| s.find_objects(&template))?;
        let [handle] = found.as_slice() else {
            return Err(KeyError::Token(format!(
                "token {:?}: expected one public key labelled {label:?}, found {}",
                self.label,
                found.len()
            )));
        };
        let (_, key_type) = self.private_key(label)?;
        let algorithm =
            if key_type == KeyType::EC { KeyAlgorithm::EcdsaP256 } else { KeyAlgorithm::Rsa3072 };
        self.public_key_info(*handle, algorithm)
    }

    fn public_key_info(
        &self,
        handle: ObjectHandle,
        algorithm: KeyAlgorithm,
    ) -> Result<Vec<u8>, KeyError> {
        let bad =
            |what: String| KeyError::Token(format!("token {:?}: public key: {what}", self.label));
        let spki = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let attributes =
                    self.with_session(|s| s.get_attributes(handle, &[AttributeType::EcPoint]))?;
                let wrapped = attributes
                    .into_iter()
                    .find_map(|a| if let Attribute::EcPoint(p) = a { Some(p) } else { None })
                    .ok_or_else(|| bad("no CKA_EC_POINT".into()))?;
                // CKA_EC_POINT is the point wrapped in a DER OCTET STRING.
                let point = <OctetStringRef<'_> as der::Decode>::from_der(&wrapped)
                    .map(|o| o.as_bytes().to_vec())
                    .map_err(|e| bad(format!("CKA_EC_POINT: {e}")))?;
                return super::csr::ec_p256_spki(&point).map_err(|e| bad(e.to_string()));
            }
            KeyAlgorithm::Rsa3072 => {
                let attributes = self.with_session(|s| {
                    s.get_attributes(
                        handle,
                        &[AttributeType::Modulus, AttributeType::PublicExponent],
                    )
                })?;
                let (mut modulus, mut exponent) = (None, None);
                for a in attributes {
                    match a {
                        Attribute::Modulus(m) => modulus = Some(m),
                        Attribute::PublicExponent(e) => exponent = Some(e),
                        _ => {}
                    }
                }
                let (modulus, exponent) =
                    modulus.zip(exponent).ok_or_else(|| bad("no modulus or exponent".into()))?;
                let rsa = RsaPublicKey {
                    modulus: UintRef::new(&modulus).map_err(|e| bad(e.to_string()))?,
                    public_exponent: UintRef::new(&exponent).map_err(|e| bad(e.to_string()))?,
                };
                SubjectPublicKeyInfoOwned {
                    algorithm: AlgorithmIdentifierOwned {
                        oid: RSA_ENCRYPTION,
                        parameters: Some(
                            der::Any::encode_from(&der::asn1::Null)
                                .map_err(|e| bad(e.to_string()))?,
                        ),
                    },
                    subject_public_key: BitString::from_bytes(
                        &rsa.to_der().map_err(|e| bad(e.to_string()))?,
                    )
                    .map_err(|e| bad(e.to_string()))?,
                }
            }
        };
        spki.to_der().map_err(|e| bad(e.to_string()))
    }
}

/// PKCS#1 `RSAPublicKey`.
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// How a token key signs.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    /// `CKM_ECDSA` over a SHA-256 digest computed here.
    Ecdsa,
    /// `CKM_SHA256_RSA_PKCS` over the message.
    RsaPkcs1,
}

/// A seal key in a token.
pub struct TokenSigner {
    token: Arc<Token>,
    key: ObjectHandle,
    scheme: Scheme,
    label: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("token", &self.token.label)
            .field("key", &self.label)
            .finish_non_exhaustive()
    }
}

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CmsError> {
        let failed = |e: KeyError| CmsError::SigningFailed(e.to_string());
        match self.scheme {
            Scheme::Ecdsa => {
                let digest = ring::digest::digest(&ring::digest::SHA256, message);
                let raw = self
                    .token
                    .with_session(|s| s.sign(&Mechanism::Ecdsa, self.key, digest.as_ref()))
                    .map_err(failed)?;
                ecdsa_raw_to_der(&raw).ok_or_else(|| {
                    CmsError::SigningFailed(format!(
                        "the token returned a {}-byte ECDSA signature, not 64",
                        raw.len()
                    ))
                })
            }
            Scheme::RsaPkcs1 => self
                .token
                .with_session(|s| s.sign(&Mechanism::Sha256RsaPkcs, self.key, message))
                .map_err(failed),
        }
    }
}

/// `r || s` (two 32-byte big-endian integers) as the DER `ECDSA-Sig-Value`
/// `SEQUENCE { r INTEGER, s INTEGER }`.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let integer = |bytes: &[u8]| -> Option<Vec<u8>> { UintRef::new(bytes).ok()?.to_der().ok() };
    let (r, s) = (integer(&raw[..32])?, integer(&raw[32..])?);
    let mut out = vec![0x30, u8::try_from(r.len() + s.len()).ok()?];
    out.extend_from_slice(&r);
    out.extend_from_slice(&s);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_signatures_become_der() {
        let mut raw = [0u8; 64];
        raw[31] = 1; // r = 1
        raw[32] = 0x80; // s has its high bit set: needs a leading zero
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        assert!(ecdsa_raw_to_der(&raw[..63]).is_none());
    }
}
