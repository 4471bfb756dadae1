-- Consent requests go only to people who may be asked (issue 11). A consent-request campaign asks
-- people with no consent history for its purpose only when an admin or DPO set this option (an
-- e-mail asking for marketing consent is itself direct marketing, ePrivacy Directive Art. 13).
ALTER TABLE campaigns ADD COLUMN include_no_history BIGINT NOT NULL DEFAULT 0;

-- What using an unsubscribe link records: 'unsubscribe' (a marketing message's link: withdraws
-- consent) or 'refuse' (a consent request's link: records dpv:ConsentRefused, and the person is
-- not asked again). Links minted before this migration are all marketing links.
ALTER TABLE unsubscribe_tokens ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'unsubscribe' CHECK (kind IN ('unsubscribe', 'refuse'));
