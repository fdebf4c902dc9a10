DROP TABLE support_requests;
DROP TABLE support_agents;
