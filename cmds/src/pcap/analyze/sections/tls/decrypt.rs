//! Decrypting TLS records with the secrets of an NSS key log (SSLKEYLOGFILE) or of a
//! pcapng Decryption Secrets Block: TLS 1.3 and TLS 1.2 (ECDHE) with AES-128-GCM,
//! AES-256-GCM and ChaCha20-Poly1305. Every primitive comes from a crate: the AEADs
//! from ring (its AES-NI/CLMUL assembly: the hot loop of a decrypting run), the key
//! schedules from RustCrypto's hkdf, hmac and sha2; this file only derives keys and
//! nonces as RFC 8446 §7 and RFC 5246 §6.3 / RFC 5288 / RFC 7905 say.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use ring::aead::{
    Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use sha2::{Sha256, Sha384};
use std::collections::HashMap;

/// The secrets of a key log, by label and client random.
#[derive(Debug, Default, Clone)]
pub struct KeyLog {
    secrets: HashMap<(String, [u8; 32]), Vec<u8>>,
    /// Lines that were not `LABEL <64 hex> <hex>`.
    pub bad_lines: u64,
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl KeyLog {
    /// Adds the lines of an NSS key log (comments and blank lines skipped).
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let parsed = (|| {
                let label = parts.next()?;
                let random: [u8; 32] = hex(parts.next()?)?.try_into().ok()?;
                let secret = hex(parts.next()?)?;
                Some((label.to_string(), random, secret))
            })();
            match parsed {
                Some((label, random, secret)) => {
                    self.secrets.insert((label, random), secret);
                }
                None => self.bad_lines += 1,
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    fn get(&self, label: &str, random: &[u8; 32]) -> Option<&[u8]> {
        self.secrets
            .get(&(label.to_string(), *random))
            .map(Vec::as_slice)
    }
}

/// The AEAD of a cipher suite and the hash of its key schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suite {
    Aes128Gcm { sha384: bool },
    Aes256Gcm { sha384: bool },
    ChaCha,
}

impl Suite {
    fn of(cipher_suite: u16) -> Option<Suite> {
        Some(match cipher_suite {
            0x1301 | 0xC02B | 0xC02F | 0x009C | 0x009E => Suite::Aes128Gcm { sha384: false },
            0x1302 | 0xC02C | 0xC030 | 0x009D | 0x009F => Suite::Aes256Gcm { sha384: true },
            0x1303 | 0xCCA8 | 0xCCA9 | 0xCCAA => Suite::ChaCha,
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Suite::Aes128Gcm { .. } => 16,
            _ => 32,
        }
    }

    fn sha384(self) -> bool {
        matches!(
            self,
            Suite::Aes128Gcm { sha384: true } | Suite::Aes256Gcm { sha384: true }
        )
    }
}

struct Cipher(LessSafeKey);

impl Cipher {
    fn new(suite: Suite, key: &[u8]) -> Option<Cipher> {
        let algorithm = match suite {
            Suite::Aes128Gcm { .. } => &AES_128_GCM,
            Suite::Aes256Gcm { .. } => &AES_256_GCM,
            Suite::ChaCha => &CHACHA20_POLY1305,
        };
        Some(Cipher(LessSafeKey::new(
            UnboundKey::new(algorithm, key).ok()?,
        )))
    }

    /// The plaintext of `ct` (ciphertext and 16-byte tag), or None when it fails
    /// authentication.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
        let mut buf = ct.to_vec();
        let n = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buf,
            )
            .ok()?
            .len();
        buf.truncate(n);
        Some(buf)
    }
}

/// RFC 8446 §7.1 HKDF-Expand-Label with an empty context.
fn expand_label(sha384: bool, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let mut out = vec![0u8; len];
    if sha384 {
        hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?;
    } else {
        hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?;
    }
    Some(out)
}

/// RFC 5246 §5 P_hash, for the TLS 1.2 PRF.
fn p_hash(sha384: bool, secret: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    fn run<M: Mac + KeyInit + Clone>(secret: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
        let base = <M as KeyInit>::new_from_slice(secret).ok()?;
        let mut out = Vec::with_capacity(len + 64);
        let mut a = {
            let mut m = base.clone();
            m.update(seed);
            m.finalize().into_bytes().to_vec()
        };
        while out.len() < len {
            let mut m = base.clone();
            m.update(&a);
            m.update(seed);
            out.extend_from_slice(&m.finalize().into_bytes());
            let mut m = base.clone();
            m.update(&a);
            a = m.finalize().into_bytes().to_vec();
        }
        out.truncate(len);
        Some(out)
    }
    if sha384 {
        run::<Hmac<Sha384>>(secret, seed, len)
    } else {
        run::<Hmac<Sha256>>(secret, seed, len)
    }
}

/// One direction's record protection.
pub struct DirKeys {
    cipher: Cipher,
    iv: Vec<u8>,
    seq: u64,
    tls13: bool,
    /// TLS 1.3: the traffic secret, for a KeyUpdate.
    secret: Vec<u8>,
    sha384: bool,
    suite: Suite,
}

impl std::fmt::Debug for DirKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material: a debug print must not leak it.
        write!(f, "DirKeys({:?}, seq {})", self.suite, self.seq)
    }
}

/// What opening one record gave.
pub enum Opened {
    /// The inner content type and the plaintext.
    Plain(u8, Vec<u8>),
    /// The record failed authentication.
    Failed,
}

impl DirKeys {
    fn tls13(suite: Suite, secret: &[u8]) -> Option<DirKeys> {
        let sha384 = suite.sha384() || matches!(suite, Suite::Aes256Gcm { .. });
        let key = expand_label(sha384, secret, "key", suite.key_len())?;
        let iv = expand_label(sha384, secret, "iv", 12)?;
        Some(DirKeys {
            cipher: Cipher::new(suite, &key)?,
            iv,
            seq: 0,
            tls13: true,
            secret: secret.to_vec(),
            sha384,
            suite,
        })
    }

    /// TLS 1.3 KeyUpdate: the next generation of this direction's secret.
    pub fn update(&mut self) -> bool {
        let hash_len = if self.sha384 { 48 } else { 32 };
        let Some(next) = expand_label(self.sha384, &self.secret, "traffic upd", hash_len) else {
            return false;
        };
        match DirKeys::tls13(self.suite, &next) {
            Some(k) => {
                *self = k;
                true
            }
            None => false,
        }
    }

    /// Opens one record (`header` its 5 bytes, `body` what follows).
    pub fn open(&mut self, header: &[u8; 5], body: &[u8]) -> Opened {
        let seq = self.seq;
        self.seq += 1;
        if self.tls13 {
            let nonce = xor_nonce(&self.iv, seq);
            let Some(mut plain) = self.cipher.open(&nonce, header, body) else {
                return Opened::Failed;
            };
            // TLSInnerPlaintext: content, the real type, zero padding.
            while plain.last() == Some(&0) {
                plain.pop();
            }
            return match plain.pop() {
                Some(t) => Opened::Plain(t, plain),
                None => Opened::Failed,
            };
        }
        let content_type = header[0];
        let (nonce, ct) = match self.suite {
            Suite::ChaCha => (xor_nonce(&self.iv, seq), body),
            _ => {
                let Some((explicit, ct)) = body.split_at_checked(8) else {
                    return Opened::Failed;
                };
                let mut n = [0u8; 12];
                n[..4].copy_from_slice(self.iv.get(..4).unwrap_or(&[0; 4]));
                n[4..].copy_from_slice(explicit);
                (n, ct)
            }
        };
        let Some(plain_len) = ct.len().checked_sub(16) else {
            return Opened::Failed;
        };
        let mut aad = Vec::with_capacity(13);
        aad.extend_from_slice(&seq.to_be_bytes());
        aad.extend_from_slice(&header[..3]);
        aad.extend_from_slice(&(plain_len as u16).to_be_bytes());
        match self.cipher.open(&nonce, &aad, ct) {
            Some(p) => Opened::Plain(content_type, p),
            None => Opened::Failed,
        }
    }
}

fn xor_nonce(iv: &[u8], seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    for (i, b) in n.iter_mut().enumerate() {
        *b = iv.get(i).copied().unwrap_or(0);
    }
    for (i, s) in seq.to_be_bytes().iter().enumerate() {
        n[4 + i] ^= s;
    }
    n
}

/// The keys of one TLS 1.3 connection, both directions, both stages.
pub struct Tls13Keys {
    pub client_hs: Option<DirKeys>,
    pub server_hs: Option<DirKeys>,
    pub client_app: Option<DirKeys>,
    pub server_app: Option<DirKeys>,
}

/// The TLS 1.3 keys for a connection, when the key log has its secrets.
pub fn tls13_keys(log: &KeyLog, client_random: &[u8; 32], cipher_suite: u16) -> Option<Tls13Keys> {
    let suite = Suite::of(cipher_suite)?;
    let k = |label: &str| {
        log.get(label, client_random)
            .and_then(|s| DirKeys::tls13(suite, s))
    };
    let keys = Tls13Keys {
        client_hs: k("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        server_hs: k("SERVER_HANDSHAKE_TRAFFIC_SECRET"),
        client_app: k("CLIENT_TRAFFIC_SECRET_0"),
        server_app: k("SERVER_TRAFFIC_SECRET_0"),
    };
    (keys.client_app.is_some() || keys.server_app.is_some()).then_some(keys)
}

/// The TLS 1.2 keys (client, server) for a connection, from its master secret.
pub fn tls12_keys(
    log: &KeyLog,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    cipher_suite: u16,
) -> Option<(DirKeys, DirKeys)> {
    let suite = Suite::of(cipher_suite)?;
    let master = log.get("CLIENT_RANDOM", client_random)?;
    let sha384 = suite.sha384();
    let iv_len = if suite == Suite::ChaCha { 12 } else { 4 };
    let key_len = suite.key_len();
    let mut seed = b"key expansion".to_vec();
    seed.extend_from_slice(server_random);
    seed.extend_from_slice(client_random);
    let block = p_hash(sha384, master, &seed, 2 * key_len + 2 * iv_len)?;
    let (ck, rest) = block.split_at(key_len);
    let (sk, rest) = rest.split_at(key_len);
    let (civ, siv) = rest.split_at(iv_len);
    let dir = |key: &[u8], iv: &[u8]| -> Option<DirKeys> {
        Some(DirKeys {
            cipher: Cipher::new(suite, key)?,
            iv: iv.to_vec(),
            seq: 0,
            tls13: false,
            secret: Vec::new(),
            sha384,
            suite,
        })
    };
    Some((dir(ck, civ)?, dir(sk, siv)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8448_server_handshake_key_and_iv() {
        // RFC 8448 §3 (simple 1-RTT): server_handshake_traffic_secret and the key
        // and iv derived from it.
        let secret =
            hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38").unwrap();
        assert_eq!(
            expand_label(false, &secret, "key", 16).unwrap(),
            hex("3fce516009c21727d0f2e4e86ee403bc").unwrap()
        );
        assert_eq!(
            expand_label(false, &secret, "iv", 12).unwrap(),
            hex("5d313eb2671276ee13000b30").unwrap()
        );
    }

    #[test]
    fn key_log_lines() {
        let mut log = KeyLog::default();
        log.add_text(&format!(
            "# comment\nCLIENT_RANDOM {} {}\nnonsense\n",
            "ab".repeat(32),
            "cd".repeat(48)
        ));
        assert_eq!(log.len(), 1);
        assert_eq!(log.bad_lines, 1);
        assert!(log.get("CLIENT_RANDOM", &[0xab; 32]).is_some());
    }
}
