-- Argo CD health check for the analytics.ecap.dev/v1alpha1 kinds: Pipeline,
-- FraudRuleSet, Segmentation and RetentionPolicy. All four report the same
-- conditions, so one script serves them; argocd-cm carries it under each
-- kind's key (Argo CD runs every script on its own, without modules).
-- It reads what the ECAP controller writes: status.observedGeneration and
-- the kstatus conditions Ready, Reconciling and Stalled (reasons in
-- api/v1alpha1/conditions.go). See deploy/argocd/README.md.
-- Uses only Lua's base and table libraries: Argo CD opens neither string
-- nor math for scripts from argocd-cm.
hs = {}

local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

-- Ready=False reasons that only a change to the spec or to the cluster
-- clears; any other reason is transient and retried by the controller.
local terminal = {
  InvalidSpec = true,
  CompileFailed = true,
  PipelineNotFound = true,
  LagNotDecreasing = true,
}

local generation = obj.metadata.generation
local ready = condition("Ready")
if obj.status == nil or ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the ECAP controller to report status"
  return hs
end

local waiting = "Waiting for the ECAP controller to reconcile generation " .. tostring(generation)

-- The controller is working on it; its message says on what, if it is
-- about the current generation.
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  if generation == nil or reconciling.observedGeneration == generation then
    hs.message = messageOf(reconciling, "Reconciling")
  else
    hs.message = waiting
  end
  return hs
end

-- A Ready (or Stalled) left over from an earlier generation says nothing
-- about the current spec.
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = waiting
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = messageOf(stalled, "Stalled: " .. tostring(stalled.reason))
  return hs
end

if ready.status ~= "True" and ready.status ~= "False" then
  hs.status = "Progressing"
  hs.message = messageOf(ready, "Ready is Unknown")
  return hs
end

if ready.status == "False" then
  if terminal[ready.reason] then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = messageOf(ready, "Not ready: " .. tostring(ready.reason))
  return hs
end

if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = waiting
  return hs
end

-- spec.suspend (Pipeline, RetentionPolicy): the controller reached the idle
-- state it was asked for.
if obj.spec ~= nil and obj.spec.suspend == true and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = messageOf(ready, "Suspended")
  return hs
end

hs.status = "Healthy"
hs.message = messageOf(ready, "Ready")
return hs
