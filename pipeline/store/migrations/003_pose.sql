-- Head pose and attention from the detector's five landmarks. Pose columns are NULL where the
-- detector gives no landmarks (Haar), so "unknown" is never stored as "not looking".
ALTER TABLE face_observations ADD COLUMN yaw REAL;
ALTER TABLE face_observations ADD COLUMN pitch REAL;
ALTER TABLE face_observations ADD COLUMN roll REAL;
ALTER TABLE face_observations ADD COLUMN looking BOOLEAN;
-- Where this row's box and pose come from: 'detected' (the detector ran on this frame),
-- 'interpolated' (detector skipped: box and pose between the track's two nearest detections),
-- 'carried' (detector skipped: taken from the nearest detection on one side only).
ALTER TABLE face_observations ADD COLUMN pose_source VARCHAR;

-- Seconds the person faced the camera (looking rows x sampling interval); NULL when unknown.
ALTER TABLE tracks ADD COLUMN attention_s DOUBLE;

-- People (tracks) in the bucket with at least one looking row, and their share of the people
-- whose pose is known; NULL when no pose is known in the bucket.
ALTER TABLE emotion_series ADD COLUMN people_looking INTEGER;
ALTER TABLE emotion_series ADD COLUMN share_looking DOUBLE;

-- Cameras mounted beside or above the display: the head angles (degrees) at which a person
-- looks at the display rather than at the lens. The looking cone is centred on them.
ALTER TABLE sources ADD COLUMN yaw_offset_deg DOUBLE DEFAULT 0;
ALTER TABLE sources ADD COLUMN pitch_offset_deg DOUBLE DEFAULT 0;
