//! A lock-free, append-only list of `'static` items, linked through the items themselves:
//! memory per item, never per use. Call sites join it on their first call in debug mode, so
//! reports can walk every fn that was used.

use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

use crate::util::AtomicStaticRef;

/// The link an item of a [`Registry`] carries.
#[derive(Debug)]
pub(crate) struct Link<T: 'static> {
    registered: AtomicBool,
    next: AtomicStaticRef<T>,
}

impl<T: 'static> Link<T> {
    pub(crate) const fn new() -> Self {
        Link {
            registered: AtomicBool::new(false),
            next: AtomicStaticRef::none(),
        }
    }
}

/// An item that can be listed: it owns its [`Link`].
pub(crate) trait Listed: Sized + 'static {
    fn link(&self) -> &Link<Self>;
}

/// The head of a list.
#[derive(Debug)]
pub(crate) struct Registry<T: 'static> {
    head: AtomicStaticRef<T>,
}

impl<T: Listed> Registry<T> {
    pub(crate) const fn new() -> Self {
        Registry {
            head: AtomicStaticRef::none(),
        }
    }

    /// Adds `item` (once; later calls are one relaxed load).
    #[inline]
    pub(crate) fn register(&self, item: &'static T) {
        let link = item.link();
        if link.registered.load(Relaxed) || link.registered.swap(true, Relaxed) {
            return;
        }
        let mut head = self.head.load(Acquire);
        loop {
            link.next.store(head, Relaxed);
            match self
                .head
                .compare_exchange_weak(head, Some(item), Release, Acquire)
            {
                Ok(()) => return,
                Err(h) => head = h,
            }
        }
    }

    /// Every item registered so far, newest first.
    pub(crate) fn items(&self) -> Vec<&'static T> {
        let mut out = Vec::new();
        let mut next = self.head.load(Acquire);
        while let Some(item) = next {
            out.push(item);
            next = item.link().next.load(Acquire);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(u32, Link<Item>);
    impl Listed for Item {
        fn link(&self) -> &Link<Self> {
            &self.1
        }
    }

    #[test]
    fn each_item_is_listed_once_from_many_threads() {
        static ITEMS: [Item; 4] = [
            Item(0, Link::new()),
            Item(1, Link::new()),
            Item(2, Link::new()),
            Item(3, Link::new()),
        ];
        static LIST: Registry<Item> = Registry::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for item in &ITEMS {
                        LIST.register(item);
                    }
                });
            }
        });
        let mut ids: Vec<u32> = LIST.items().iter().map(|i| i.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2, 3]);
    }
}
