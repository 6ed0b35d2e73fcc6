//! The standard security handler for AES-256 (ISO 32000-2 section 7.6.4, revisions 5 and 6),
//! opened with the empty user password, as needed to seal "encrypted, no password to open" files.
//!
//! New objects of the update are encrypted with the file key, as pyHanko does; signature
//! /Contents stay in clear as the standard requires. Initialisation vectors are derived from the
//! key, the object and the plaintext rather than drawn at random, so that sealing is
//! deterministic (the same inputs give the same output bytes).

use aes::cipher::{
    BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding, block_padding::Pkcs7,
};
use ring::digest;

use super::error::{PdfError, Result};
use super::object::{Dictionary, Object, ObjectId};

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The file key and which kinds of data it applies to.
#[derive(Clone)]
pub struct Crypt {
    key: [u8; 32],
    strings: bool,
    streams: bool,
}

impl std::fmt::Debug for Crypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypt")
            .field("strings", &self.strings)
            .field("streams", &self.streams)
            .finish()
    }
}

fn bytes_of<'a>(dict: &'a Dictionary, key: &[u8]) -> Result<&'a [u8]> {
    match dict.get(key) {
        Some(Object::String(s, _)) => Ok(s),
        _ => Err(PdfError::Malformed(format!(
            "the /Encrypt dictionary has no /{} string",
            String::from_utf8_lossy(key)
        ))),
    }
}

impl Crypt {
    /// Opens the /Encrypt dictionary with the empty user password.
    ///
    /// Errors: [`PdfError::NeedsPassword`] when the empty password is not the user password,
    /// [`PdfError::Unsupported`] for handlers other than the standard AES-256 one.
    pub fn open(encrypt: &Dictionary) -> Result<Crypt> {
        let filter = encrypt.get(b"Filter").and_then(Object::as_name).unwrap_or_default();
        if filter != b"Standard" {
            return Err(PdfError::Unsupported(format!(
                "encryption with the /{} security handler (only the standard handler is supported)",
                String::from_utf8_lossy(filter)
            )));
        }
        let v = encrypt.get(b"V").and_then(Object::as_i64).unwrap_or(0);
        let r = encrypt.get(b"R").and_then(Object::as_i64).unwrap_or(0);
        if v != 5 || !(r == 5 || r == 6) {
            return Err(PdfError::Unsupported(format!(
                "encryption V{v} R{r}; only AES-256 (V5, R5/R6) is supported: save the file without encryption or with AES-256"
            )));
        }
        let method_of = |filter_key: &[u8]| -> Result<bool> {
            let name = encrypt.get(filter_key).and_then(Object::as_name).unwrap_or(b"Identity");
            if name == b"Identity" {
                return Ok(false);
            }
            let cfm = encrypt
                .get(b"CF")
                .and_then(Object::as_dict)
                .and_then(|cf| cf.get(name))
                .and_then(Object::as_dict)
                .and_then(|f| f.get(b"CFM"))
                .and_then(Object::as_name);
            match cfm {
                Some(b"AESV3") => Ok(true),
                Some(b"None") => Ok(false),
                other => Err(PdfError::Unsupported(format!(
                    "crypt filter method {}",
                    other
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .unwrap_or_else(|| "(missing)".into())
                ))),
            }
        };
        let strings = method_of(b"StrF")?;
        let streams = method_of(b"StmF")?;

        let u = bytes_of(encrypt, b"U")?;
        let ue = bytes_of(encrypt, b"UE")?;
        if u.len() < 48 || ue.len() < 32 {
            return Err(PdfError::Malformed("the /Encrypt /U or /UE string is too short".into()));
        }
        let hash = |salt: &[u8]| if r == 6 { hash_r6(b"", salt) } else { sha256(&[salt]) };
        if hash(&u[32..40]) != u[..32] {
            return Err(PdfError::NeedsPassword);
        }
        let intermediate = hash(&u[40..48]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&ue[..32]);
        Aes256CbcDec::new(&intermediate.into(), &[0u8; 16].into())
            .decrypt_padded_mut::<NoPadding>(&mut key)
            .map_err(|_| PdfError::Malformed("the /UE string cannot be decrypted".into()))?;
        Ok(Crypt { key, strings, streams })
    }

    /// Whether strings are encrypted.
    pub fn encrypts_strings(&self) -> bool {
        self.strings
    }

    /// Whether streams are encrypted.
    pub fn encrypts_streams(&self) -> bool {
        self.streams
    }

    /// Decrypts `IV || ciphertext` (AES-256-CBC, PKCS#7 padding).
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>> {
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if data.len() < 16 || (data.len() - 16) % 16 != 0 {
            return Err(PdfError::Malformed(
                "an encrypted string or stream has a bad length".into(),
            ));
        }
        let (iv, body) = data.split_at(16);
        let mut iv_block = [0u8; 16];
        iv_block.copy_from_slice(iv);
        Aes256CbcDec::new(&self.key.into(), &iv_block.into())
            .decrypt_padded_vec_mut::<Pkcs7>(body)
            .map_err(|_| {
                PdfError::Malformed("an encrypted string or stream does not decrypt".into())
            })
    }

    /// Encrypts `plaintext` for object `id`; `salt` tells apart several strings of one object.
    /// The IV is derived from the key, the object, the salt and the plaintext.
    pub fn encrypt(&self, id: ObjectId, salt: u32, plaintext: &[u8]) -> Vec<u8> {
        let seed = sha256(&[
            b"eseal-iv",
            &self.key,
            &id.number.to_be_bytes(),
            &id.generation.to_be_bytes(),
            &salt.to_be_bytes(),
            plaintext,
        ]);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&seed[..16]);
        let mut out = iv.to_vec();
        out.extend(
            Aes256CbcEnc::new(&self.key.into(), &iv.into())
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
        );
        out
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Algorithm 2.B of ISO 32000-2 for the user password (no /U data mixed in).
fn hash_r6(password: &[u8], salt: &[u8]) -> [u8; 32] {
    let mut k: Vec<u8> = sha256(&[password, salt]).to_vec();
    let mut round: u32 = 0;
    loop {
        let mut k1 = Vec::with_capacity(64 * (password.len() + k.len()));
        for _ in 0..64 {
            k1.extend_from_slice(password);
            k1.extend_from_slice(&k);
        }
        let mut key = [0u8; 16];
        let mut iv = [0u8; 16];
        key.copy_from_slice(&k[..16]);
        iv.copy_from_slice(&k[16..32]);
        let e = Aes128CbcEnc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<NoPadding>(&k1);
        let selector = e[..16].iter().map(|b| u32::from(*b)).sum::<u32>() % 3;
        let algorithm = match selector {
            0 => &digest::SHA256,
            1 => &digest::SHA384,
            _ => &digest::SHA512,
        };
        k = digest::digest(algorithm, &e).as_ref().to_vec();
        round += 1;
        let last = u32::from(e.last().copied().unwrap_or(0));
        if round >= 64 && last <= round - 32 {
            break;
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&k[..32]);
    out
}
