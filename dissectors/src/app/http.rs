pub fn looks_like_http(p: &[u8]) -> bool {
    p.starts_with(b"GET ") || p.starts_with(b"HTTP/1.")
}
