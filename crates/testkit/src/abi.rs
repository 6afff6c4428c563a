//! Just enough Solidity ABI encoding for the test contracts: selectors and the head/tail encoding of
//! addresses, uints, strings and arrays of addresses or uints.

use chaintrace_core::{Address, U256};

/// One ABI value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `address`.
    Address(Address),
    /// `uint256`.
    Uint(U256),
    /// `string`.
    Str(String),
    /// `address[]`.
    Addresses(Vec<Address>),
    /// `uint256[]`.
    Uints(Vec<U256>),
}

impl Token {
    fn is_dynamic(&self) -> bool {
        matches!(self, Token::Str(_) | Token::Addresses(_) | Token::Uints(_))
    }
}

/// The 4-byte selector of a function signature such as `"transfer(address,uint256)"`.
pub fn selector(signature: &str) -> [u8; 4] {
    let h = alloy_primitives::keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// Topic 0 of an event signature such as `"Transfer(address,address,uint256)"`.
pub fn event_topic(signature: &str) -> [u8; 32] {
    alloy_primitives::keccak256(signature.as_bytes()).0
}

/// Call data: selector followed by the encoded arguments.
pub fn encode_call(signature: &str, args: &[Token]) -> Vec<u8> {
    let mut out = selector(signature).to_vec();
    out.extend(encode_args(args));
    out
}

/// The ABI encoding of a tuple of arguments (as appended to init code for constructors).
pub fn encode_args(args: &[Token]) -> Vec<u8> {
    let head_len = 32 * args.len();
    let mut head = Vec::with_capacity(head_len);
    let mut tail = Vec::new();
    for arg in args {
        if arg.is_dynamic() {
            head.extend(uint_word(U256::from(head_len + tail.len())));
            tail.extend(encode_dynamic(arg));
        } else {
            head.extend(encode_static(arg));
        }
    }
    head.extend(tail);
    head
}

/// The address in the low 20 bytes of a 32-byte word (indexed address topics, address results).
pub fn word_address(word: &[u8]) -> Option<Address> {
    if word.len() != 32 {
        return None;
    }
    Address::from_slice(&word[12..])
}

fn encode_static(arg: &Token) -> [u8; 32] {
    match arg {
        Token::Address(a) => address_word(*a),
        Token::Uint(v) => uint_word(*v),
        Token::Str(_) | Token::Addresses(_) | Token::Uints(_) => {
            unreachable!("dynamic tokens go to the tail")
        }
    }
}

fn encode_dynamic(arg: &Token) -> Vec<u8> {
    let mut out = Vec::new();
    match arg {
        Token::Str(s) => {
            out.extend(uint_word(U256::from(s.len())));
            out.extend(s.as_bytes());
            out.resize(32 + s.len().div_ceil(32) * 32, 0);
        }
        Token::Addresses(list) => {
            out.extend(uint_word(U256::from(list.len())));
            for a in list {
                out.extend(address_word(*a));
            }
        }
        Token::Uints(list) => {
            out.extend(uint_word(U256::from(list.len())));
            for v in list {
                out.extend(uint_word(*v));
            }
        }
        Token::Address(_) | Token::Uint(_) => unreachable!("static tokens go to the head"),
    }
    out
}

fn uint_word(v: U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

fn address_word(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_bytes());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        alloy_primitives::hex::encode(b)
    }

    #[test]
    fn selectors_match_the_well_known_ones() {
        assert_eq!(hex(&selector("transfer(address,uint256)")), "a9059cbb");
        assert_eq!(hex(&selector("approve(address,uint256)")), "095ea7b3");
        assert_eq!(
            hex(&event_topic("Transfer(address,address,uint256)")),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        );
    }

    #[test]
    fn encodes_static_then_dynamic_arguments_with_offsets() {
        let a = Address([0x11; 20]);
        let data = encode_args(&[
            Token::Addresses(vec![a]),
            Token::Uints(vec![U256::from(7u8), U256::from(8u8)]),
            Token::Uint(U256::from(5u8)),
        ]);
        let words: Vec<String> = data.chunks(32).map(hex).collect();
        let w = |n: u8| format!("{:064x}", n);
        assert_eq!(words.len(), 3 + 2 + 3);
        assert_eq!(words[0], w(0x60)); // offset of the address array: after the 3 head words
        assert_eq!(words[1], w(0xa0)); // offset of the uint array: after the address array's 2 words
        assert_eq!(words[2], w(5));
        assert_eq!(words[3], w(1));
        assert_eq!(words[4], format!("{:0>64}", "11".repeat(20)));
        assert_eq!(words[5], w(2));
        assert_eq!(words[6], w(7));
        assert_eq!(words[7], w(8));
    }

    #[test]
    fn pads_strings_to_whole_words() {
        let data = encode_args(&[Token::Str("Chaintrace Test Token, longer than 32 bytes".into())]);
        assert_eq!(data.len(), 32 + 32 + 64);
        assert_eq!(&data[64..64 + 10], b"Chaintrace");
        assert!(data[64 + 43..].iter().all(|b| *b == 0));
    }
}
