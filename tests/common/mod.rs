pub mod gateway;
pub mod instances;
pub mod managed;
pub mod mock;
pub mod raw;
pub mod redis;
pub mod redis_cluster;
