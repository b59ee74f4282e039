//! The bridge SDK's `devices.conf`: originalIdentity → (productKey, deviceName, deviceSecret).
//!
//! The file is HOCON; this reads the subset such files use:
//!
//! ```text
//! # comment            // comment too
//! meter-0001 {                          # `meter-0001 = {` and `meter-0001 : {` work too
//!   productKey : a1B2c3D4e5F            # `:` or `=`; values quoted or not
//!   "deviceName" = "meter-0001",        # commas between fields are optional
//!   deviceSecret : 0123456789abcdef0123456789abcdef
//! }
//! ```
//!
//! The whole document may also be wrapped in braces. Other keys inside a device block are
//! ignored. Errors name the line and column.

use serde::Serialize;
use thiserror::Error;

use crate::error::quote;
use crate::topic::check_segment;

/// One device of a `devices.conf`. `Debug` shows the secret as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceEntry {
    /// The device's own identifier in its native protocol (the block's key).
    pub original_identity: String,
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// deviceSecret.
    pub device_secret: String,
}

impl std::fmt::Debug for DeviceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEntry")
            .field("original_identity", &self.original_identity)
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("device_secret", &"<redacted>")
            .finish()
    }
}

/// A `devices.conf` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DevicesConfError {
    /// The text is not in the expected shape.
    #[error("devices.conf line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A device block lacks a field or has an illegal value.
    #[error("devices.conf line {line}: device {identity}: {message}")]
    Device {
        /// 1-based line of the block's key.
        line: usize,
        /// The block's key (quoted).
        identity: String,
        /// What is wrong.
        message: String,
    },
}

impl DevicesConfError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "DEVICES_CONF_SYNTAX",
            Self::Device { .. } => "DEVICES_CONF_DEVICE",
        }
    }

    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. } | Self::Device { line, .. } => *line,
        }
    }
}

struct Reader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    column: usize,
}

/// A token: a key or value text, or one punctuation character.
#[derive(Debug, PartialEq)]
enum Token {
    Text(String),
    Punct(char),
    Newline,
    End,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.chars().peekable(),
            line: 1,
            column: 1,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> DevicesConfError {
        DevicesConfError::Syntax {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }

    fn skip_comment(&mut self) {
        while let Some(&c) = self.chars.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// The next token, with its starting position.
    fn next(&mut self) -> Result<(Token, usize, usize), DevicesConfError> {
        loop {
            let (line, column) = (self.line, self.column);
            let Some(&c) = self.chars.peek() else {
                return Ok((Token::End, line, column));
            };
            match c {
                '\n' => {
                    self.bump();
                    return Ok((Token::Newline, line, column));
                }
                c if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                '#' => self.skip_comment(),
                '/' => {
                    self.bump();
                    if self.chars.peek() == Some(&'/') {
                        self.skip_comment();
                    } else {
                        return Err(self.error("a single '/' here; comments start with // or #"));
                    }
                }
                '{' | '}' | ':' | '=' | ',' => {
                    self.bump();
                    return Ok((Token::Punct(c), line, column));
                }
                '"' => {
                    self.bump();
                    return self
                        .quoted((line, column))
                        .map(|s| (Token::Text(s), line, column));
                }
                _ => return Ok((Token::Text(self.unquoted()), line, column)),
            }
        }
    }

    fn quoted(&mut self, start: (usize, usize)) -> Result<String, DevicesConfError> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(DevicesConfError::Syntax {
                        line: start.0,
                        column: start.1,
                        message: "unterminated quoted string (a quote opened here is not closed on this line)".into(),
                    });
                }
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c @ ('"' | '\\' | '/')) => out.push(c),
                    _ => return Err(self.error("unknown escape in quoted string")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn unquoted(&mut self) -> String {
        let mut out = String::new();
        while let Some(&c) = self.chars.peek() {
            if matches!(c, '\n' | '{' | '}' | ':' | '=' | ',' | '#' | '"')
                || (c == '/' && out.ends_with('/'))
            {
                break;
            }
            out.push(c);
            self.bump();
        }
        if out.ends_with('/') {
            // Put back nothing: a trailing '/' before a second '/' starts a comment.
            out.pop();
            self.skip_comment();
        }
        out.trim_end().to_owned()
    }

    /// The next token that is not a newline.
    fn next_solid(&mut self) -> Result<(Token, usize, usize), DevicesConfError> {
        loop {
            let token = self.next()?;
            if token.0 != Token::Newline {
                return Ok(token);
            }
        }
    }
}

/// Parses a bridge `devices.conf`.
pub fn parse_devices_conf(text: &str) -> Result<Vec<DeviceEntry>, DevicesConfError> {
    let mut reader = Reader::new(text);
    let mut devices = Vec::new();
    let mut braced_root = false;
    let mut first = true;
    loop {
        let (token, line, column) = reader.next_solid()?;
        let identity = match token {
            Token::End if braced_root => {
                return Err(DevicesConfError::Syntax {
                    line,
                    column,
                    message: "missing '}' closing the document".into(),
                });
            }
            Token::End => return Ok(devices),
            Token::Punct('{') if first => {
                braced_root = true;
                first = false;
                continue;
            }
            Token::Punct('}') if braced_root => {
                let (rest, line, column) = reader.next_solid()?;
                if rest != Token::End {
                    return Err(DevicesConfError::Syntax {
                        line,
                        column,
                        message: "text after the closing '}' of the document".into(),
                    });
                }
                return Ok(devices);
            }
            Token::Punct(',') if !first => continue,
            Token::Text(text) if !text.is_empty() => text,
            other => {
                return Err(DevicesConfError::Syntax {
                    line,
                    column,
                    message: format!("expected a device identity, found {}", describe(&other)),
                });
            }
        };
        first = false;
        let (mut token, mut tl, mut tc) = reader.next_solid()?;
        if matches!(token, Token::Punct(':' | '=')) {
            (token, tl, tc) = reader.next_solid()?;
        }
        if token != Token::Punct('{') {
            return Err(DevicesConfError::Syntax {
                line: tl,
                column: tc,
                message: format!(
                    "expected '{{' to open device {}, found {}",
                    quote(&identity),
                    describe(&token)
                ),
            });
        }
        devices.push(device_block(&mut reader, identity, line)?);
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Text(t) => quote(t),
        Token::Punct(c) => format!("'{c}'"),
        Token::Newline => "end of line".into(),
        Token::End => "end of file".into(),
    }
}

fn device_block(
    reader: &mut Reader<'_>,
    identity: String,
    line: usize,
) -> Result<DeviceEntry, DevicesConfError> {
    let mut product_key = None;
    let mut device_name = None;
    let mut device_secret = None;
    loop {
        let (token, kl, kc) = reader.next_solid()?;
        let key = match token {
            Token::Punct('}') => break,
            Token::Punct(',') => continue,
            Token::Text(key) if !key.is_empty() => key,
            other => {
                return Err(DevicesConfError::Syntax {
                    line: kl,
                    column: kc,
                    message: format!("expected a field name or '}}', found {}", describe(&other)),
                });
            }
        };
        let (sep, sl, sc) = reader.next()?;
        if !matches!(sep, Token::Punct(':' | '=')) {
            return Err(DevicesConfError::Syntax {
                line: sl,
                column: sc,
                message: format!(
                    "expected ':' or '=' after {}, found {}",
                    quote(&key),
                    describe(&sep)
                ),
            });
        }
        let (value, vl, vc) = reader.next()?;
        let Token::Text(value) = value else {
            return Err(DevicesConfError::Syntax {
                line: vl,
                column: vc,
                message: format!(
                    "expected a value for {}, found {}",
                    quote(&key),
                    describe(&value)
                ),
            });
        };
        match key.as_str() {
            "productKey" => product_key = Some(value),
            "deviceName" => device_name = Some(value),
            "deviceSecret" => device_secret = Some(value),
            _ => {}
        }
    }
    let fail = |message: String| DevicesConfError::Device {
        line,
        identity: quote(&identity),
        message,
    };
    let field = |name: &str, value: Option<String>| match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(fail(format!("missing {name}"))),
    };
    let product_key = field("productKey", product_key)?;
    let device_name = field("deviceName", device_name)?;
    let device_secret = field("deviceSecret", device_secret)?;
    check_segment("productKey", &product_key).map_err(|e| fail(e.to_string()))?;
    check_segment("deviceName", &device_name).map_err(|e| fail(e.to_string()))?;
    Ok(DeviceEntry {
        original_identity: identity,
        product_key,
        device_name,
        device_secret,
    })
}
