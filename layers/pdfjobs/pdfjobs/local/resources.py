"""The local stack: deterministic physical names for every resource of the template, and the
emulated AWS resources (tables, buckets, queues, state machines) created from it in moto."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import boto3

from pdfjobs.local.intrinsics import Intrinsics
from pdfjobs.local.template import FUNCTION_TYPE, SamTemplate, TemplateError

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "pdfjobs-local"

TABLE_TYPE = "AWS::DynamoDB::Table"
BUCKET_TYPE = "AWS::S3::Bucket"
QUEUE_TYPE = "AWS::SQS::Queue"
STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
API_TYPE = "AWS::Serverless::Api"
LAYER_TYPE = "AWS::Serverless::LayerVersion"

# Types with a local emulation; `resource_names` lists exactly these.
EMULATED_TYPES = (TABLE_TYPE, BUCKET_TYPE, QUEUE_TYPE, STATE_MACHINE_TYPE, FUNCTION_TYPE)
# Types that need nothing locally: permissions, logging and deployment plumbing.
IGNORED_TYPES = frozenset(
    {
        API_TYPE,
        LAYER_TYPE,
        LOG_GROUP_TYPE,
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::Lambda::Permission",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
    }
)
# The explicit-name property of each type, when the template chooses the name itself.
_NAME_PROPERTY = {
    TABLE_TYPE: "TableName",
    BUCKET_TYPE: "BucketName",
    QUEUE_TYPE: "QueueName",
    FUNCTION_TYPE: "FunctionName",
    STATE_MACHINE_TYPE: "Name",
    LOG_GROUP_TYPE: "LogGroupName",
}
_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
)
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
)

log = logging.getLogger(__name__)


def _scalar_string(value: Any) -> str:
    """CloudFormation hands every scalar property to services as a string (`true`, not `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Stack:
    """Where each logical id of the template lives locally: its physical name, and what Ref and
    Fn::GetAtt give for it. Every value is deterministic, so it is known before anything exists."""

    def __init__(self, template: SamTemplate, parameters: Mapping[str, Any], aws_endpoint: str) -> None:
        self.template = template
        self.aws_endpoint = aws_endpoint.rstrip("/")
        self.intrinsics = Intrinsics(
            parameters=parameters,
            pseudo_parameters={
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::StackName": STACK_NAME,
                "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],
            },
            conditions=template.conditions,
            mappings=template.mappings,
            resources=self,
        )
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    def resolve(self, value: Any) -> Any:
        return self.intrinsics.resolve(value)

    def properties(self, logical_id: str, only: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The resource's Properties (Globals applied) with intrinsics resolved; with `only`, just
        those keys, so a property the runtime never uses cannot stop it (e.g. an unsupported GetAtt)."""
        properties = self.template.properties(logical_id)
        if only is not None:
            properties = {key: value for key, value in properties.items() if key in only}
        return dict(self.resolve(properties) or {})

    def has_resource(self, logical_id: str) -> bool:
        resource = self.template.resources.get(logical_id)
        if resource is None:
            return False
        condition = resource.get("Condition")
        return condition is None or self.intrinsics.condition(condition)

    def logical_ids(self, resource_type: str) -> list[str]:
        return [lid for lid in self.template.logical_ids_of_type(resource_type) if self.has_resource(lid)]

    def physical_name(self, logical_id: str) -> str:
        if logical_id not in self._names:
            # A name may be a !Sub of another resource's name; a cycle would recurse forever.
            if logical_id in self._naming:
                raise TemplateError(f"circular reference while naming {logical_id}")
            self._naming.add(logical_id)
            try:
                self._names[logical_id] = self._choose_name(logical_id)
            finally:
                self._naming.discard(logical_id)
        return self._names[logical_id]

    def _choose_name(self, logical_id: str) -> str:
        resource_type = self.template.resource_type(logical_id)
        name_property = _NAME_PROPERTY.get(resource_type)
        explicit = (self.template.resources[logical_id].get("Properties") or {}).get(name_property or "")
        if explicit is not None:
            return str(self.resolve(explicit))
        name = f"{STACK_NAME}-{logical_id}"
        if resource_type == BUCKET_TYPE:
            return name.lower()
        if resource_type == QUEUE_TYPE and self.template.properties(logical_id).get("FifoQueue") is True:
            return f"{name}.fifo"
        return name

    def arn(self, logical_id: str) -> str:
        resource_type = self.template.resource_type(logical_id)
        name = self.physical_name(logical_id)
        arns = {
            FUNCTION_TYPE: f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            TABLE_TYPE: f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}",
            BUCKET_TYPE: f"arn:aws:s3:::{name}",
            QUEUE_TYPE: f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
            STATE_MACHINE_TYPE: f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}",
            LOG_GROUP_TYPE: f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*",
            LAYER_TYPE: f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
        }
        if resource_type not in arns:
            raise TemplateError(f"the local runtime has no ARN for {logical_id} ({resource_type})")
        return arns[resource_type]

    def queue_url(self, logical_id: str) -> str:
        # The form moto's server answers to CreateQueue/GetQueueUrl on this endpoint.
        return f"{self.aws_endpoint}/{ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def api_id(self, logical_id: str) -> str:
        return hashlib.sha256(f"{STACK_NAME}/{logical_id}".encode()).hexdigest()[:10]

    def ref(self, logical_id: str) -> str:
        resource_type = self.template.resource_type(logical_id)
        if resource_type == QUEUE_TYPE:
            return self.queue_url(logical_id)
        if resource_type in (STATE_MACHINE_TYPE, LAYER_TYPE):
            return self.arn(logical_id)
        if resource_type == API_TYPE:
            return self.api_id(logical_id)
        return self.physical_name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.template.resource_type(logical_id)
        name = self.physical_name(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        known: dict[tuple[str, str], str] = {
            (QUEUE_TYPE, "QueueName"): name,
            (QUEUE_TYPE, "QueueUrl"): self.queue_url(logical_id) if resource_type == QUEUE_TYPE else "",
            (STATE_MACHINE_TYPE, "Name"): name,
            (BUCKET_TYPE, "DomainName"): f"{name}.s3.amazonaws.com",
            (BUCKET_TYPE, "RegionalDomainName"): f"{name}.s3.{REGION}.amazonaws.com",
        }
        if (resource_type, attribute) not in known:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not available locally")
        return known[(resource_type, attribute)]

    def resource_names(self) -> dict[str, str]:
        """Logical id -> what Ref gives (table/bucket/function name, queue URL, state machine ARN)."""
        return {lid: self.ref(lid) for t in EMULATED_TYPES for lid in self.logical_ids(t)}


def create_resources(stack: Stack) -> None:
    """Create every table, bucket, queue and state machine of the template in the emulator."""
    # Credentials come from the environment the runtime set up (any value works with moto).
    session = boto3.session.Session(region_name=REGION)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=stack.aws_endpoint)  # type: ignore[call-overload]

    for logical_id, resource in stack.template.resources.items():
        resource_type = str(resource.get("Type"))
        if resource_type not in EMULATED_TYPES and resource_type not in IGNORED_TYPES:
            log.warning("%s (%s) is not emulated locally; ignored", logical_id, resource_type)

    dynamodb, s3, sqs, sfn = client("dynamodb"), client("s3"), client("sqs"), client("stepfunctions")
    for logical_id in stack.logical_ids(TABLE_TYPE):
        _create_table(dynamodb, stack.physical_name(logical_id), stack.properties(logical_id, _TABLE_PROPERTIES))
    for logical_id in stack.logical_ids(BUCKET_TYPE):
        _create_bucket(s3, stack.physical_name(logical_id), stack.properties(logical_id, ("CorsConfiguration",)))
    # A queue's dead-letter target must exist before the queue that names it.
    queues = stack.logical_ids(QUEUE_TYPE)
    for logical_id in sorted(queues, key=lambda lid: "RedrivePolicy" in stack.template.properties(lid)):
        properties = stack.properties(logical_id, (*_QUEUE_ATTRIBUTES, "RedrivePolicy"))
        _create_queue(sqs, stack.physical_name(logical_id), properties)
    for logical_id in stack.logical_ids(STATE_MACHINE_TYPE):
        _create_state_machine(sfn, stack, logical_id)


def _create_table(dynamodb: Any, name: str, properties: dict[str, Any]) -> None:
    billing_mode = properties.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": billing_mode,
    }
    if billing_mode == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(properties.get("ProvisionedThroughput"))
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = properties.get(index_kind)
        if indexes:
            request[index_kind] = [
                {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
                | (
                    {"ProvisionedThroughput": _throughput(index.get("ProvisionedThroughput"))}
                    if billing_mode == "PROVISIONED" and index_kind == "GlobalSecondaryIndexes"
                    else {}
                )
                for index in indexes
            ]
    stream = properties.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, **stream}
    dynamodb.create_table(**request)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )


def _throughput(throughput: dict[str, Any] | None) -> dict[str, int]:
    throughput = throughput or {}
    return {
        "ReadCapacityUnits": int(throughput.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(throughput.get("WriteCapacityUnits", 5)),
    }


def _create_bucket(s3: Any, name: str, properties: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=name)
    cors = properties.get("CorsConfiguration")
    if cors:
        # CloudFormation and the S3 API spell three CorsRule fields differently.
        renamed = {"Id": "ID", "MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
        rules = [{renamed.get(k, k): v for k, v in rule.items()} for rule in cors.get("CorsRules", [])]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})


def _create_queue(sqs: Any, name: str, properties: dict[str, Any]) -> None:
    attributes = {key: _scalar_string(properties[key]) for key in _QUEUE_ATTRIBUTES if key in properties}
    redrive = properties.get("RedrivePolicy")
    if redrive:
        attributes["RedrivePolicy"] = redrive if isinstance(redrive, str) else json.dumps(redrive)
    sqs.create_queue(QueueName=name, Attributes=attributes)


def _create_state_machine(sfn: Any, stack: Stack, logical_id: str) -> None:
    properties = stack.properties(
        logical_id, only=("DefinitionUri", "Definition", "DefinitionSubstitutions", "Role", "Type")
    )
    if "DefinitionUri" in properties:
        uri = properties["DefinitionUri"]
        if not isinstance(uri, str):
            raise TemplateError(f"{logical_id}: only a local DefinitionUri file is supported locally")
        definition = (stack.template.directory / uri).read_text(encoding="utf-8")
    elif "Definition" in properties:
        definition = json.dumps(properties["Definition"])
    else:
        raise TemplateError(f"{logical_id} has neither DefinitionUri nor Definition")
    substitutions = {key: str(value) for key, value in (properties.get("DefinitionSubstitutions") or {}).items()}
    definition = _substitute(definition, substitutions, logical_id)
    role = properties.get("Role") or f"arn:aws:iam::{ACCOUNT_ID}:role/{stack.physical_name(logical_id)}-role"
    sfn.create_state_machine(
        name=stack.physical_name(logical_id),
        definition=definition,
        roleArn=role,
        type=properties.get("Type", "STANDARD"),
    )


def _substitute(definition: str, substitutions: dict[str, str], logical_id: str) -> str:
    """Replace `${Key}` as SAM does; a placeholder left unreplaced is a template bug, so it fails here."""
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", value)
    leftover = re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)
    if leftover:
        raise TemplateError(f"{logical_id}: DefinitionSubstitutions lacks {sorted(set(leftover))}")
    return definition
