//! Encrypted key files: a PKCS#8 key sealed with AES-256-GCM under a key-encryption key (KEK).
//!
//! Layout (version 1), all of it authenticated:
//!
//! ```text
//! offset  size  what
//!      0     8  magic "ESEALKEY"
//!      8     1  version (1)
//!      9     8  KEK identifier: the first 8 bytes of SHA-256("eseal-kek-id\0" || KEK)
//!     17    12  nonce (random)
//!     29     n  AES-256-GCM ciphertext of the PKCS#8 DER, then its 16-byte tag
//! ```
//!
//! The 29-byte header is the AEAD's associated data: a file whose header was edited (another
//! KEK identifier, another version) fails to open like one whose ciphertext was. The KEK
//! identifier says which KEK a file needs without trying them all, so that during a KEK
//! rotation the service opens files sealed under the new and the previous KEK alike, and a
//! wrong KEK is named as such instead of "bad tag".

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use super::KeyError;

/// The first bytes of every encrypted key file.
pub const MAGIC: &[u8; 8] = b"ESEALKEY";
/// The format version written.
const VERSION: u8 = 1;
/// Size of the KEK identifier.
const KEK_ID_LEN: usize = 8;
/// Size of the authenticated header.
const HEADER_LEN: usize = MAGIC.len() + 1 + KEK_ID_LEN + NONCE_LEN;

/// A key-encryption key: 32 bytes for AES-256-GCM, and its identifier.
pub struct Kek {
    id: [u8; KEK_ID_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    // Never print key material; the identifier is what operators compare.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id_hex()).finish_non_exhaustive()
    }
}

impl Kek {
    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Kek {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(b"eseal-kek-id\0");
        context.update(bytes);
        let mut id = [0u8; KEK_ID_LEN];
        id.copy_from_slice(&context.finish().as_ref()[..KEK_ID_LEN]);
        // 32 bytes always make an AES-256 key: the error case cannot happen.
        let key = match UnboundKey::new(&AES_256_GCM, bytes) {
            Ok(key) => LessSafeKey::new(key),
            Err(_) => unreachable!("AES-256-GCM takes any 32-byte key"),
        };
        Kek { id, key }
    }

    /// A KEK written as text (64 hex digits or the base64 of 32 bytes, surrounding white space
    /// ignored) or, in a file, as its 32 raw bytes. `source` names where it came from, for errors.
    pub fn parse(material: &[u8], source: &str) -> Result<Kek, KeyError> {
        let bad = || {
            KeyError::Kek(format!(
                "{source} must hold 32 bytes: 64 hex digits, base64, or the raw bytes"
            ))
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        let text = std::str::from_utf8(material).ok().map(str::trim);
        match text {
            Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
                for (i, pair) in t.as_bytes().chunks(2).enumerate() {
                    let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
                    bytes[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
                }
            }
            Some(t) if t.len() == 44 => {
                let mut decoded =
                    Zeroizing::new(eseal_encoding::base64::decode(t).map_err(|_| bad())?);
                if decoded.len() != 32 {
                    decoded.zeroize();
                    return Err(bad());
                }
                bytes.copy_from_slice(&decoded);
            }
            _ if material.len() == 32 => bytes.copy_from_slice(material),
            _ => return Err(bad()),
        }
        Ok(Kek::from_bytes(&bytes))
    }

    /// A new random KEK, as the 64 hex digits [`Kek::parse`] reads.
    pub fn generate_hex() -> Result<Zeroizing<String>, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut bytes[..])
            .map_err(|_| KeyError::Kek("no randomness for a new KEK".into()))?;
        Ok(Zeroizing::new(eseal_encoding::hex(&bytes[..])))
    }

    /// The identifier written in the files this KEK seals (16 hex digits).
    pub fn id_hex(&self) -> String {
        eseal_encoding::hex(&self.id)
    }
}

/// Whether `bytes` are an encrypted key file (by its magic).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The KEK identifier an encrypted key file needs (16 hex digits), if the header is readable.
pub fn kek_id_of(file: &[u8]) -> Option<String> {
    (file.len() >= HEADER_LEN && is_encrypted(file))
        .then(|| eseal_encoding::hex(&file[MAGIC.len() + 1..MAGIC.len() + 1 + KEK_ID_LEN]))
}

/// Seals `pkcs8` under `kek` with a fresh random nonce.
pub fn seal(pkcs8: &[u8], kek: &Kek) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Kek("no randomness for a nonce".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + pkcs8.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&kek.id);
    out.extend_from_slice(&nonce);
    let mut body = Zeroizing::new(pkcs8.to_vec());
    let tag = kek
        .key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&out[..HEADER_LEN]),
            body.as_mut_slice(),
        )
        .map_err(|_| KeyError::Kek("AES-256-GCM sealing failed".into()))?;
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens an encrypted key file with whichever of `keks` it names. The PKCS#8 bytes come back in
/// a buffer that is wiped when dropped. `reference` names the file in errors.
pub fn open(file: &[u8], keks: &[Kek], reference: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let broken =
        |why: &str| KeyError::Tampered { reference: reference.into(), message: why.into() };
    if file.len() < HEADER_LEN + AES_256_GCM.tag_len() || !is_encrypted(file) {
        return Err(broken("too short or no ESEALKEY header"));
    }
    if file[MAGIC.len()] != VERSION {
        return Err(broken(&format!(
            "format version {} is not one this build reads (1)",
            file[MAGIC.len()]
        )));
    }
    let id = &file[MAGIC.len() + 1..MAGIC.len() + 1 + KEK_ID_LEN];
    let Some(kek) = keks.iter().find(|k| k.id == id) else {
        return Err(KeyError::WrongKek {
            reference: reference.into(),
            needed: eseal_encoding::hex(id),
            configured: keks.iter().map(Kek::id_hex).collect::<Vec<_>>().join(", "),
        });
    };
    let (header, sealed) = file.split_at(HEADER_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[HEADER_LEN - NONCE_LEN..]);
    let mut body = Zeroizing::new(sealed.to_vec());
    let plain_len = kek
        .key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(header), body.as_mut_slice())
        .map_err(|_| broken("authentication failed: the file was altered or damaged"))?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::from_bytes(&[byte; 32])
    }

    #[test]
    fn round_trip_and_refusals() {
        let secret = b"0123456789 pretend PKCS#8".to_vec();
        let file = seal(&secret, &kek(1)).unwrap();
        assert!(is_encrypted(&file));
        assert_eq!(kek_id_of(&file), Some(kek(1).id_hex()));
        assert_eq!(open(&file, &[kek(2), kek(1)], "k").unwrap().as_slice(), secret.as_slice());
        assert!(matches!(open(&file, &[kek(2)], "k"), Err(KeyError::WrongKek { .. })));
        for at in [0, 8, 12, 20, 30, file.len() - 1] {
            let mut bad = file.clone();
            bad[at] ^= 1;
            let e = open(&bad, &[kek(1)], "k").unwrap_err();
            assert!(
                matches!(e, KeyError::Tampered { .. } | KeyError::WrongKek { .. }),
                "byte {at}: {e}"
            );
        }
        assert!(matches!(open(&file[..20], &[kek(1)], "k"), Err(KeyError::Tampered { .. })));
        // Two seals of the same key differ (fresh nonce).
        assert_ne!(seal(&secret, &kek(1)).unwrap(), file);
    }

    #[test]
    fn kek_text_forms() {
        let hex = "11".repeat(32);
        assert_eq!(Kek::parse(hex.as_bytes(), "t").unwrap().id_hex(), kek(0x11).id_hex());
        assert_eq!(
            Kek::parse(format!(" {hex}\n").as_bytes(), "t").unwrap().id_hex(),
            kek(0x11).id_hex()
        );
        let b64 = eseal_encoding::base64::encode(&[0x11; 32]);
        assert_eq!(Kek::parse(b64.as_bytes(), "t").unwrap().id_hex(), kek(0x11).id_hex());
        assert_eq!(Kek::parse(&[0x11; 32], "t").unwrap().id_hex(), kek(0x11).id_hex());
        assert!(Kek::parse(b"short", "t").is_err());
        assert!(Kek::parse("11".repeat(31).as_bytes(), "t").is_err());
        let generated = Kek::generate_hex().unwrap();
        assert_eq!(generated.len(), 64);
        assert!(Kek::parse(generated.as_bytes(), "t").is_ok());
    }
}
