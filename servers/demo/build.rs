//! Links every demo program with the task linker script from `septum-user`.
fn main() {
    septum_task_link::link_programs();
}
