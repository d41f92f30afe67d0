pub mod gateway;
pub mod mock;
pub mod raw;
pub mod redis;
