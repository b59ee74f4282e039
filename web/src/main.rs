//! Entry point: mounts the dashboard.

fn main() {
    otalab_dashboard::mount();
}
