//! Decrypting TLS records with the secrets of an NSS key log (SSLKEYLOGFILE) or of a
//! pcapng Decryption Secrets Block: TLS 1.3 and TLS 1.2 with AES-128-GCM, AES-256-GCM
//! and ChaCha20-Poly1305, and TLS 1.2 AES-CBC suites with HMAC-SHA1/256/384, both
//! MAC-then-encrypt and encrypt-then-MAC (RFC 7366). Every primitive comes from a
//! crate: the AEADs from ring (its AES-NI/CLMUL assembly: the hot loop of a decrypting
//! run), AES-CBC from RustCrypto's aes and cbc, the MACs and key schedules from its
//! hmac, sha1, sha2 and hkdf; this file only derives keys and nonces and frames the
//! records as RFC 8446 §7, RFC 5246 §6.2.3 and §6.3, RFC 5288, RFC 7905 and RFC 7366 say.
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use ring::aead::{
    Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use sha1::Sha1;
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

/// `RSA <16 hex digits> <96 hex digits>`: NSS's line for an RSA key exchange.
fn is_rsa_premaster_line(line: &str) -> bool {
    let mut parts = line.split_whitespace();
    parts.next() == Some("RSA")
        && parts
            .next()
            .and_then(hex)
            .is_some_and(|prefix| prefix.len() == 8)
        && parts
            .next()
            .and_then(hex)
            .is_some_and(|premaster| premaster.len() == 48)
        && parts.next().is_none()
}

impl KeyLog {
    /// Adds the lines of an NSS key log (comments and blank lines skipped).
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            if is_rsa_premaster_line(line) {
                // The premaster secret of an RSA key exchange, keyed by the first 8
                // bytes of its encryption: OpenSSL writes the session's
                // CLIENT_RANDOM line as well, which is the one used here.
                continue;
            }
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

/// The HMAC of a TLS 1.2 CBC suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacHash {
    Sha1,
    Sha256,
    Sha384,
}

impl MacHash {
    fn len(self) -> usize {
        match self {
            MacHash::Sha1 => 20,
            MacHash::Sha256 => 32,
            MacHash::Sha384 => 48,
        }
    }
}

/// The record protection of a cipher suite and the hash of its key schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suite {
    Aes128Gcm {
        sha384: bool,
    },
    Aes256Gcm {
        sha384: bool,
    },
    ChaCha,
    /// TLS 1.2 AES-CBC with an HMAC; `key_len` 16 or 32. The PRF is SHA-256 except
    /// for the _SHA384 suites.
    Cbc {
        key_len: usize,
        mac: MacHash,
        prf_sha384: bool,
    },
}

impl Suite {
    fn of(cipher_suite: u16) -> Option<Suite> {
        Some(match cipher_suite {
            0x1301 | 0xC02B | 0xC02F | 0x009C | 0x009E => Suite::Aes128Gcm { sha384: false },
            0x1302 | 0xC02C | 0xC030 | 0x009D | 0x009F => Suite::Aes256Gcm { sha384: true },
            0x1303 | 0xCCA8 | 0xCCA9 | 0xCCAA => Suite::ChaCha,
            // ECDHE_ECDSA, ECDHE_RSA, RSA and DHE_RSA key exchanges: the key log's
            // CLIENT_RANDOM line gives the master secret whatever the exchange was.
            0xC009 | 0xC013 | 0x002F | 0x0033 => Suite::cbc(16, MacHash::Sha1),
            0xC00A | 0xC014 | 0x0035 | 0x0039 => Suite::cbc(32, MacHash::Sha1),
            0xC023 | 0xC027 | 0x003C | 0x0067 => Suite::cbc(16, MacHash::Sha256),
            0x003D | 0x006B => Suite::cbc(32, MacHash::Sha256),
            0xC024 | 0xC028 => Suite::cbc(32, MacHash::Sha384),
            _ => return None,
        })
    }

    fn cbc(key_len: usize, mac: MacHash) -> Suite {
        Suite::Cbc {
            key_len,
            mac,
            prf_sha384: mac == MacHash::Sha384,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Suite::Aes128Gcm { .. } => 16,
            Suite::Cbc { key_len, .. } => key_len,
            _ => 32,
        }
    }

    fn sha384(self) -> bool {
        matches!(
            self,
            Suite::Aes128Gcm { sha384: true }
                | Suite::Aes256Gcm { sha384: true }
                | Suite::Cbc {
                    prf_sha384: true,
                    ..
                }
        )
    }
}

/// AES-CBC with HMAC (TLS 1.2): the keys and which order MAC and encryption come in.
struct CbcKeys {
    aes_key: Vec<u8>,
    mac: MacHash,
    mac_key: Vec<u8>,
    /// RFC 7366 encrypt-then-MAC was negotiated.
    encrypt_then_mac: bool,
}

// Two per connection, and the AEAD (the large one) is what nearly every session uses:
// boxing it to shrink the rare CBC case would only add a pointer chase per record.
#[allow(clippy::large_enum_variant)]
enum Cipher {
    Aead(LessSafeKey),
    Cbc(CbcKeys),
}

impl Cipher {
    fn new(suite: Suite, key: &[u8]) -> Option<Cipher> {
        let algorithm = match suite {
            Suite::Aes128Gcm { .. } => &AES_128_GCM,
            Suite::Aes256Gcm { .. } => &AES_256_GCM,
            Suite::ChaCha => &CHACHA20_POLY1305,
            Suite::Cbc { .. } => return None,
        };
        Some(Cipher::Aead(LessSafeKey::new(
            UnboundKey::new(algorithm, key).ok()?,
        )))
    }

    /// Decrypts `ct` (ciphertext and 16-byte tag) in place: the length of the
    /// plaintext now at its start, or None when it fails authentication.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], ct: &mut [u8]) -> Option<usize> {
        let Cipher::Aead(key) = self else {
            return None;
        };
        key.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), ct)
            .ok()
            .map(|p| p.len())
    }
}

/// HMAC over the pieces of `parts`, one after another.
fn hmac_of(hash: MacHash, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
        let mut m = <M as KeyInit>::new_from_slice(key).ok()?;
        for p in parts {
            m.update(p);
        }
        Some(m.finalize().into_bytes().to_vec())
    }
    match hash {
        MacHash::Sha1 => run::<Hmac<Sha1>>(key, parts),
        MacHash::Sha256 => run::<Hmac<Sha256>>(key, parts),
        MacHash::Sha384 => run::<Hmac<Sha384>>(key, parts),
    }
}

/// AES-CBC decryption of whole blocks, no padding removed (TLS checks its own).
fn aes_cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<()> {
    use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(buf)
            .ok()
            .map(|_| ()),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(buf)
            .ok()
            .map(|_| ()),
        _ => None,
    }
}

impl CbcKeys {
    /// The MAC of one record's content: RFC 5246 §6.2.3.1 (the plaintext, for
    /// MAC-then-encrypt) or RFC 7366 §3 (IV and ciphertext, for encrypt-then-MAC).
    fn record_mac(&self, seq: u64, header: &[u8; 5], data: &[u8]) -> Option<Vec<u8>> {
        let len = u16::try_from(data.len()).ok()?.to_be_bytes();
        hmac_of(
            self.mac,
            &self.mac_key,
            &[&seq.to_be_bytes(), &header[..3], &len, data],
        )
    }

    /// Opens a TLS 1.2 CBC record in place: `body` is the explicit IV, the
    /// ciphertext and, with encrypt-then-MAC, the MAC. A wrong MAC, bad padding or
    /// impossible length is an authentication failure (never a panic). The MAC
    /// compare need not be constant-time: nothing here answers a peer.
    fn open(&self, seq: u64, header: &[u8; 5], body: &mut [u8]) -> Opened {
        const BLOCK: usize = 16;
        let mac_len = self.mac.len();
        let protected_len = if self.encrypt_then_mac {
            let Some(split) = body.len().checked_sub(mac_len) else {
                return Opened::Failed;
            };
            let (protected, tag) = body.split_at(split);
            if self.record_mac(seq, header, protected).as_deref() != Some(tag) {
                return Opened::Failed;
            }
            split
        } else {
            body.len()
        };
        if protected_len < 2 * BLOCK || !protected_len.is_multiple_of(BLOCK) {
            return Opened::Failed;
        }
        let (iv, ct) = body[..protected_len].split_at_mut(BLOCK);
        if aes_cbc_decrypt(&self.aes_key, iv, ct).is_none() {
            return Opened::Failed;
        }
        let plain = &*ct;
        // RFC 5246 §6.2.3.2: padding_length bytes each equal to padding_length, then
        // the padding_length byte itself.
        let pad = usize::from(plain.last().copied().unwrap_or(0));
        let Some(mut end) = plain.len().checked_sub(pad + 1) else {
            return Opened::Failed;
        };
        if plain[end..].iter().any(|b| usize::from(*b) != pad) {
            return Opened::Failed;
        }
        if !self.encrypt_then_mac {
            let Some(split) = end.checked_sub(mac_len) else {
                return Opened::Failed;
            };
            if self.record_mac(seq, header, &plain[..split]).as_deref() != Some(&plain[split..end])
            {
                return Opened::Failed;
            }
            end = split;
        }
        Opened::Plain(header[0], BLOCK..BLOCK + end)
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
    /// The inner content type and where the plaintext lies in the record's body,
    /// decrypted in place.
    Plain(u8, std::ops::Range<usize>),
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

    /// Opens one record in place (`header` its 5 bytes, `body` what follows): a
    /// record decrypted where it was reassembled is never copied again.
    pub fn open(&mut self, header: &[u8; 5], body: &mut [u8]) -> Opened {
        let seq = self.seq;
        self.seq += 1;
        if self.tls13 {
            let nonce = xor_nonce(&self.iv, seq);
            let Some(n) = self.cipher.open(&nonce, header, body) else {
                return Opened::Failed;
            };
            // TLSInnerPlaintext: content, the real type, zero padding.
            let plain = &body[..n];
            let Some(type_at) = plain.iter().rposition(|b| *b != 0) else {
                return Opened::Failed;
            };
            return Opened::Plain(plain[type_at], 0..type_at);
        }
        if let Cipher::Cbc(cbc) = &self.cipher {
            return cbc.open(seq, header, body);
        }
        let content_type = header[0];
        let explicit_len = match self.suite {
            Suite::ChaCha => 0,
            _ => 8,
        };
        let Some((explicit, ct)) = body.split_at_mut_checked(explicit_len) else {
            return Opened::Failed;
        };
        let nonce = if explicit_len == 0 {
            xor_nonce(&self.iv, seq)
        } else {
            let mut n = [0u8; 12];
            n[..4].copy_from_slice(self.iv.get(..4).unwrap_or(&[0; 4]));
            n[4..].copy_from_slice(explicit);
            n
        };
        let Some(plain_len) = ct.len().checked_sub(16) else {
            return Opened::Failed;
        };
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&seq.to_be_bytes());
        aad[8..11].copy_from_slice(&header[..3]);
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        match self.cipher.open(&nonce, &aad, ct) {
            Some(n) => Opened::Plain(content_type, explicit_len..explicit_len + n),
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

/// What a TLS 1.2 ServerHello chose that the record protection depends on.
#[derive(Debug, Clone, Copy)]
pub struct Tls12Params<'a> {
    pub client_random: &'a [u8; 32],
    pub server_random: &'a [u8; 32],
    pub cipher_suite: u16,
    /// The negotiated version: CBC suites are decrypted in TLS 1.2 only (1.0 and 1.1
    /// have another PRF, 1.0 no explicit IV).
    pub version: u16,
    /// RFC 7366 encrypt-then-MAC (matters for CBC suites only).
    pub encrypt_then_mac: bool,
}

/// The TLS 1.2 keys (client, server) for a connection, from its master secret.
pub fn tls12_keys(log: &KeyLog, p: Tls12Params<'_>) -> Option<(DirKeys, DirKeys)> {
    let (client_random, server_random) = (p.client_random, p.server_random);
    let suite = Suite::of(p.cipher_suite)?;
    let master = log.get("CLIENT_RANDOM", client_random)?;
    let sha384 = suite.sha384();
    if let Suite::Cbc { key_len, mac, .. } = suite {
        if p.version != 0x0303 {
            return None;
        }
        // RFC 5246 §6.3: MAC keys, then encryption keys (the fixed IVs that follow
        // are unused: TLS 1.2 CBC records carry an explicit IV).
        let mut seed = b"key expansion".to_vec();
        seed.extend_from_slice(server_random);
        seed.extend_from_slice(client_random);
        let block = p_hash(sha384, master, &seed, 2 * mac.len() + 2 * key_len)?;
        let (cmac, rest) = block.split_at(mac.len());
        let (smac, rest) = rest.split_at(mac.len());
        let (ck, sk) = rest.split_at(key_len);
        let dir = |mac_key: &[u8], aes_key: &[u8]| DirKeys {
            cipher: Cipher::Cbc(CbcKeys {
                aes_key: aes_key.to_vec(),
                mac,
                mac_key: mac_key.to_vec(),
                encrypt_then_mac: p.encrypt_then_mac,
            }),
            iv: Vec::new(),
            seq: 0,
            tls13: false,
            secret: Vec::new(),
            sha384,
            suite,
        };
        return Some((dir(cmac, ck), dir(smac, sk)));
    }
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

    /// A TLS 1.2 CBC record made the way a sender does (RustCrypto's encryptor, the
    /// MAC before or after it), for the opener to take apart.
    fn seal_cbc(k: &CbcKeys, seq: u64, plain: &[u8]) -> ([u8; 5], Vec<u8>) {
        use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
        let mac_len = k.mac.len();
        let mut header = [23, 3, 3, 0, 0];
        let mut inner = plain.to_vec();
        if !k.encrypt_then_mac {
            let len = (plain.len() as u16).to_be_bytes();
            header[3..].copy_from_slice(&len);
            inner.extend(k.record_mac(seq, &header, plain).unwrap());
        }
        let pad = 15 - inner.len() % 16;
        inner.extend(std::iter::repeat_n(pad as u8, pad + 1));
        let iv = [0x5a; 16];
        let n = inner.len();
        cbc::Encryptor::<aes::Aes128>::new_from_slices(&k.aes_key, &iv)
            .unwrap()
            .encrypt_padded_mut::<NoPadding>(&mut inner, n)
            .unwrap();
        let mut body = iv.to_vec();
        body.extend(inner);
        if k.encrypt_then_mac {
            let len = (body.len() as u16).to_be_bytes();
            header[3..].copy_from_slice(&len);
            let tag = k.record_mac(seq, &header, &body).unwrap();
            body.extend(tag);
        }
        let len = (body.len() as u16).to_be_bytes();
        assert!(body.len() > mac_len);
        header[3..].copy_from_slice(&len);
        (header, body)
    }

    #[test]
    fn cbc_records_mac_then_encrypt_and_encrypt_then_mac() {
        for etm in [false, true] {
            let k = CbcKeys {
                aes_key: vec![7; 16],
                mac: MacHash::Sha1,
                mac_key: vec![9; 20],
                encrypt_then_mac: etm,
            };
            for len in [0, 1, 15, 16, 17, 300] {
                let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let (header, body) = seal_cbc(&k, 3, &plain);
                let mut opened = body.clone();
                match k.open(3, &header, &mut opened) {
                    Opened::Plain(23, p) => assert_eq!(opened[p], plain, "etm {etm} len {len}"),
                    _ => panic!("etm {etm} len {len}: not opened"),
                }
                // The wrong sequence number (a record lost in between) fails the MAC.
                assert!(matches!(
                    k.open(4, &header, &mut body.clone()),
                    Opened::Failed
                ));
                // Any flipped byte fails the MAC or the padding; any cut, the framing.
                for i in 0..body.len() {
                    let mut bad = body.clone();
                    bad[i] ^= 0x01;
                    assert!(
                        matches!(k.open(3, &header, &mut bad), Opened::Failed),
                        "etm {etm} len {len}: flipped byte {i} opened"
                    );
                }
                for n in 0..body.len() {
                    let _ = k.open(3, &header, &mut body[..n].to_vec());
                }
            }
        }
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
        // An RSA key exchange's premaster line is known, not bad, and not needed.
        log.add_text(&format!(
            "RSA {} {}\nRSA 12 34\n",
            "ab".repeat(8),
            "03".repeat(48)
        ));
        assert_eq!((log.len(), log.bad_lines), (1, 2));
        assert!(log.get("CLIENT_RANDOM", &[0xab; 32]).is_some());
    }
}
