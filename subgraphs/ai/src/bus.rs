//! Fans `RecommendationCreated` out to live subscribers: the shared per-user
//! bus (`fittrack_kit::live`) on the topic `recommendations`, in process or
//! through Redis pub/sub. When the bus may have lost something its streams
//! end; the GraphQL subscription tells its client (`SERVICE_UNAVAILABLE`),
//! which subscribes again and finds what it missed in `myRecommendations`.

use fittrack_kit::live::LiveEvent;
use uuid::Uuid;

use crate::domain::model::Recommendation;

pub use crate::domain::ports::RecommendationBus;
pub use fittrack_kit::live::PER_USER_CAPACITY;

/// In-process fan-out (embedded default).
pub type LocalBus = fittrack_kit::live::LocalBus<Recommendation>;
/// Redis pub/sub (when `REDIS_URL` is set): `<namespace>:recommendations:<userId>`.
pub type RedisBus = fittrack_kit::live::RedisBus<Recommendation>;

impl LiveEvent for Recommendation {
    const TOPIC: &'static str = "recommendations";

    fn user_id(&self) -> Uuid {
        self.user_id
    }
}
