//! A handle to state that the UI and the browser driver share: plain Rust in a
//! `Rc<RefCell<_>>`, owned by the app's reactive owner and provided through context (a
//! `Copy` value, so event listeners and timers capture it freely). No thread-locals.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;

/// A shared, context-provided piece of the simulation.
pub struct Handle<T: 'static> {
    cell: StoredValue<Rc<RefCell<T>>, LocalStorage>,
}

impl<T: 'static> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static> Copy for Handle<T> {}

impl<T: 'static> Handle<T> {
    /// Wraps `value`, owned by the current reactive owner.
    pub fn new(value: T) -> Self {
        Self {
            cell: StoredValue::new_local(Rc::new(RefCell::new(value))),
        }
    }

    /// Runs `f` on the value, unless it is already borrowed by a call further up the stack (a
    /// re-entrant call) or was disposed with its owner: then `f` does not run, the call
    /// returns `R::default()` and the console says so. A `RefCell` panic here would stop every
    /// simulated device at once.
    pub fn with<R: Default>(&self, what: &str, f: impl FnOnce(&mut T) -> R) -> R {
        let Some(rc) = self.cell.try_get_value() else {
            return R::default();
        };
        match rc.try_borrow_mut() {
            Ok(mut value) => f(&mut value),
            Err(_) => {
                report_reentry(what);
                R::default()
            }
        }
    }
}

fn report_reentry(what: &str) {
    let text = format!("otalab: re-entrant use of the {what} skipped");
    #[cfg(target_arch = "wasm32")]
    web_sys::console::error_1(&text.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reentrant_call_is_skipped_not_a_panic() {
        let owner = Owner::new();
        owner.set();
        let handle = Handle::new(41u32);
        let outer = handle.with("test", |n| {
            // A listener that would call back in while the value is borrowed.
            let inner: Option<u32> = handle.with("test", |n| Some(*n));
            assert_eq!(inner, None, "the inner call did not run");
            *n + 1
        });
        assert_eq!(outer, 42);
        // Usable again afterwards.
        assert_eq!(handle.with("test", |n| Some(*n)), Some(41));
    }
}
