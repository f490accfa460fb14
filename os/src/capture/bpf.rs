//! A classic BPF interpreter (the instruction set libpcap compiles filters to).
//!
//! Semantics follow the kernel and libpcap's `bpf_filter`: packet loads outside the
//! captured bytes, division by zero and unknown opcodes end the program with 0
//! (reject); `len` is the frame's length on the wire.

/// One instruction, laid out as libpcap's `struct bpf_insn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }
}

// Instruction classes and fields (the numbering every BPF implementation shares).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;

const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;

const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;

const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const MOD: u16 = 0x90;
const XOR: u16 = 0xa0;

const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;

const SRC_X: u16 = 0x08;
const RVAL_A: u16 = 0x10;
const RVAL_X: u16 = 0x08;
const TXA: u16 = 0x80;

/// Scratch memory words, as in every classic BPF.
const MEMWORDS: usize = 16;
/// The kernel's limit on program length.
const MAX_INSNS: usize = 4096;

/// A validated program: every jump lands inside it and every scratch index is valid,
/// so running it always terminates (jumps only go forward).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// Checks the program the way the kernel's validator does.
    pub fn new(insns: Vec<Insn>) -> Result<Program, String> {
        if insns.is_empty() || insns.len() > MAX_INSNS {
            return Err(format!("BPF program has {} instructions", insns.len()));
        }
        for (pc, insn) in insns.iter().enumerate() {
            let bad = |why: &str| Err(format!("BPF instruction {pc} ({insn:?}): {why}"));
            let class = insn.code & 0x07;
            let remaining = insns.len() - pc - 1;
            match class {
                JMP => {
                    let op = insn.code & 0xf0;
                    let far = if op == JA {
                        insn.k as usize
                    } else {
                        usize::from(insn.jt.max(insn.jf))
                    };
                    if far >= remaining {
                        return bad("jumps past the end");
                    }
                }
                LD | LDX if insn.code & 0xe0 == MEM && insn.k as usize >= MEMWORDS => {
                    return bad("scratch index out of range")
                }
                ST | STX if insn.k as usize >= MEMWORDS => {
                    return bad("scratch index out of range")
                }
                _ => {}
            }
        }
        if insns.last().map(|i| i.code & 0x07) != Some(RET) {
            return Err("BPF program does not end with a return".to_string());
        }
        Ok(Program { insns })
    }

    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// True when the filter accepts the frame (returns a non-zero snap length).
    pub fn matches(&self, packet: &[u8], wire_len: u32) -> bool {
        self.run(packet, wire_len) != 0
    }

    /// Runs the program; the result is the number of bytes to keep, 0 = reject.
    pub fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut mem = [0u32; MEMWORDS];
        let mut pc = 0usize;
        loop {
            let Some(&insn) = self.insns.get(pc) else {
                return 0;
            };
            pc += 1;
            let k = insn.k;
            match insn.code & 0x07 {
                LD => {
                    a = match insn.code & 0xe0 {
                        IMM => k,
                        ABS => match load(packet, insn.code & 0x18, k) {
                            Some(v) => v,
                            None => return 0,
                        },
                        IND => match x
                            .checked_add(k)
                            .and_then(|o| load(packet, insn.code & 0x18, o))
                        {
                            Some(v) => v,
                            None => return 0,
                        },
                        MEM => match mem.get(k as usize) {
                            Some(&v) => v,
                            None => return 0,
                        },
                        LEN => wire_len,
                        _ => return 0,
                    }
                }
                LDX => {
                    x = match insn.code & 0xe0 {
                        IMM => k,
                        MEM => match mem.get(k as usize) {
                            Some(&v) => v,
                            None => return 0,
                        },
                        LEN => wire_len,
                        MSH if insn.code & 0x18 == B => match packet.get(k as usize) {
                            Some(&byte) => u32::from(byte & 0x0f) << 2,
                            None => return 0,
                        },
                        _ => return 0,
                    }
                }
                ST => match mem.get_mut(k as usize) {
                    Some(slot) => *slot = a,
                    None => return 0,
                },
                STX => match mem.get_mut(k as usize) {
                    Some(slot) => *slot = x,
                    None => return 0,
                },
                ALU => {
                    let operand = if insn.code & SRC_X != 0 { x } else { k };
                    a = match insn.code & 0xf0 {
                        ADD => a.wrapping_add(operand),
                        SUB => a.wrapping_sub(operand),
                        MUL => a.wrapping_mul(operand),
                        DIV => match a.checked_div(operand) {
                            Some(v) => v,
                            None => return 0,
                        },
                        MOD => match a.checked_rem(operand) {
                            Some(v) => v,
                            None => return 0,
                        },
                        OR => a | operand,
                        AND => a & operand,
                        XOR => a ^ operand,
                        LSH => a.checked_shl(operand).unwrap_or(0),
                        RSH => a.checked_shr(operand).unwrap_or(0),
                        NEG => a.wrapping_neg(),
                        _ => return 0,
                    }
                }
                JMP => {
                    let operand = if insn.code & SRC_X != 0 { x } else { k };
                    let taken = match insn.code & 0xf0 {
                        JA => {
                            pc = pc.saturating_add(k as usize);
                            continue;
                        }
                        JEQ => a == operand,
                        JGT => a > operand,
                        JGE => a >= operand,
                        JSET => a & operand != 0,
                        _ => return 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                RET => {
                    return match insn.code & 0x18 {
                        RVAL_A => a,
                        RVAL_X => x,
                        _ => k,
                    }
                }
                MISC => {
                    if insn.code & 0xf8 == TXA {
                        a = x;
                    } else {
                        x = a;
                    }
                }
                _ => return 0,
            }
        }
    }
}

/// Big-endian load of a word, half-word or byte at `offset`; `None` when out of bounds.
fn load(packet: &[u8], size: u16, offset: u32) -> Option<u32> {
    let at = offset as usize;
    match size {
        W => {
            let b: [u8; 4] = packet.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(u32::from_be_bytes(b))
        }
        H => {
            let b: [u8; 2] = packet.get(at..at.checked_add(2)?)?.try_into().ok()?;
            Some(u32::from(u16::from_be_bytes(b)))
        }
        B => packet.get(at).map(|&b| u32::from(b)),
        _ => None,
    }
}

/// The 4-byte BSD loopback header (DLT_NULL, DLT_LOOP) a filter compiled here expects
/// for `packet`, when it differs from the one captured.
///
/// libpcap compiles filters for a dead handle as for a live capture on this host: the
/// address family is Linux's (AF_INET6 = 10) in host byte order (DLT_NULL) or network
/// order (DLT_LOOP). Files from the BSDs carry their own AF_INET6 (24 NetBSD/OpenBSD,
/// 28 FreeBSD, 30 Darwin) in their writer's byte order, which tcpdump, reading the file,
/// accepts every one of. So the header is rewritten to this host's value before the
/// filter runs; the frame itself is not changed.
pub fn loopback_header_for_filter(linktype: u16, packet: &[u8]) -> Option<[u8; 4]> {
    const LINUX_AF_INET: u32 = 2;
    const LINUX_AF_INET6: u32 = 10;
    let network_order = match linktype {
        0 => false,  // DLT_NULL
        108 => true, // DLT_LOOP
        _ => return None,
    };
    let raw: [u8; 4] = packet.get(..4)?.try_into().ok()?;
    // Whichever byte order the writer used, the family is a small number.
    let le = u32::from_le_bytes(raw);
    let family = if le <= 0xffff {
        le
    } else {
        u32::from_be_bytes(raw)
    };
    let linux = match family {
        2 => LINUX_AF_INET,
        10 | 24 | 28 | 30 => LINUX_AF_INET6,
        _ => return None,
    };
    let want = if network_order {
        linux.to_be_bytes()
    } else {
        linux.to_ne_bytes()
    };
    (want != raw).then_some(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(insns: &[Insn]) -> Program {
        Program::new(insns.to_vec()).unwrap()
    }

    // `tcpdump -d ip` on Ethernet: ldh [12]; jeq #0x800 jt 2 jf 3; ret #262144; ret #0
    const IP: [Insn; 4] = [
        Insn::new(LD | H | ABS, 0, 0, 12),
        Insn::new(JMP | JEQ, 0, 1, 0x0800),
        Insn::new(RET, 0, 0, 262144),
        Insn::new(RET, 0, 0, 0),
    ];

    #[test]
    fn ethertype_match_and_mismatch() {
        let p = prog(&IP);
        let mut frame = [0u8; 14];
        frame[12] = 0x08;
        assert_eq!(p.run(&frame, 60), 262144);
        frame[12] = 0x86;
        frame[13] = 0xdd;
        assert_eq!(p.run(&frame, 60), 0);
    }

    #[test]
    fn out_of_bounds_load_rejects() {
        assert_eq!(prog(&IP).run(&[0u8; 13], 13), 0);
        let word = prog(&[
            Insn::new(LD | W | ABS, 0, 0, u32::MAX - 1),
            Insn::new(RET | RVAL_A, 0, 0, 0),
        ]);
        assert_eq!(word.run(&[1; 64], 64), 0);
    }

    #[test]
    fn msh_and_indirect_load_read_tcp_flags() {
        // ldxb 4*([0]&0xf); ldb [x + 13]; ret a -- on an IPv4 header + TCP header.
        let p = prog(&[
            Insn::new(LDX | B | MSH, 0, 0, 0),
            Insn::new(LD | B | IND, 0, 0, 13),
            Insn::new(RET | RVAL_A, 0, 0, 0),
        ]);
        let mut pkt = vec![0u8; 40];
        pkt[0] = 0x45;
        pkt[20 + 13] = 0x14; // RST+ACK
        assert_eq!(p.run(&pkt, 40), 0x14);
        pkt[0] = 0x4f; // 60-byte header: TCP flags now past the end
        assert_eq!(p.run(&pkt, 40), 0);
    }

    #[test]
    fn alu_scratch_and_len() {
        let p = prog(&[
            Insn::new(LD | W | LEN, 0, 0, 0),
            Insn::new(ST, 0, 0, 3),
            Insn::new(LDX | IMM, 0, 0, 7),
            Insn::new(ALU | MUL | SRC_X, 0, 0, 0),
            Insn::new(ALU | SUB, 0, 0, 1),
            Insn::new(ALU | LSH, 0, 0, 40), // shifting 32 or more clears, as libpcap does
            Insn::new(ALU | ADD, 0, 0, 5),
            Insn::new(LDX | MEM, 0, 0, 3),
            Insn::new(ALU | ADD | SRC_X, 0, 0, 0),
            Insn::new(RET | RVAL_A, 0, 0, 0),
        ]);
        assert_eq!(p.run(&[], 100), 105);
    }

    #[test]
    fn division_by_zero_rejects() {
        let p = prog(&[
            Insn::new(LD | IMM, 0, 0, 10),
            Insn::new(ALU | DIV | SRC_X, 0, 0, 0),
            Insn::new(RET, 0, 0, 1),
        ]);
        assert_eq!(p.run(&[], 0), 0);
    }

    #[test]
    fn validator_rejects_bad_programs() {
        assert!(Program::new(vec![]).is_err());
        assert!(Program::new(vec![Insn::new(JMP | JA, 0, 0, 5), Insn::new(RET, 0, 0, 0)]).is_err());
        assert!(Program::new(vec![Insn::new(ST, 0, 0, 16), Insn::new(RET, 0, 0, 0)]).is_err());
        assert!(Program::new(vec![Insn::new(LD | IMM, 0, 0, 1)]).is_err());
    }
}
