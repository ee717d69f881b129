"""Township API: the grid tree, its level names and village groups."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.villages import grid
from jifen.tenants.villages.models import LARGE, MICRO

blp = Blueprint("grid_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/grid",
                description="The grid tree and village groups")


def _d(description: str) -> dict:
    return {"description": description}


def _order(**kwargs) -> fields.Integer:
    return whole(-grid.MAX_ORDER, grid.MAX_ORDER, **kwargs)


def _filled(limit: int, **kwargs) -> fields.String:
    """A name a PATCH may leave out, but not send blank: `text(required=True)` without the
    requirement to be present."""
    field = text(limit, required=True, **kwargs)
    field.required = False
    return field


class GridStaffSchema(Schema):
    user_id = fields.UUID(attribute="user.id")
    display_name = fields.String(attribute="user.display_name")
    role = fields.String(metadata=_d("grid_worker on their own nodes; village_admin and area_cadre "
                                                    "on the node where their village's part of the tree begins."))


class GridNodeSchema(Schema):
    id = fields.UUID(attribute="node.id", dump_only=True)
    parent_id = fields.UUID(attribute="node.parent_id", allow_none=True,
                            metadata=_d("The node one level up; null for a large grid (level 1)."))
    level = fields.Integer(attribute="node.level",
                           metadata=_d("1 large, 2 medium, 3 small, 4 micro; always the parent's level + 1."))
    level_name = fields.String(metadata=_d("The township's name for the level, in the request's language."))
    name = fields.String(attribute="node.name", metadata=_d("Unique among the active nodes of the same parent."))
    village_id = fields.UUID(attribute="node.village_id", allow_none=True,
                             metadata=_d("The village; inherited by every node below a village-tied node."))
    village_name = fields.String(allow_none=True)
    group_id = fields.UUID(attribute="node.group_id", allow_none=True,
                           metadata=_d("A village group (村民小组) of the node's village, or null."))
    group_name = fields.String(allow_none=True)
    sort_order = fields.Integer(attribute="node.sort_order", metadata=_d("Smaller first among siblings; "
                                                                         "equal values sort by pinyin of name."))
    depth = fields.Integer(metadata=_d("Depth in the township's tree: 0 for large grids."))
    path_ids = fields.List(fields.UUID(), metadata=_d("Ids from the root down to this node, itself included."))
    household_count = fields.Integer(metadata=_d("Active households on this node and every node below it."))
    staff = fields.List(fields.Nested(GridStaffSchema))
    retired_at = fields.DateTime(attribute="node.retired_at", allow_none=True,
                                 metadata=_d("Set when the node (and its subtree) was retired."))
    created_at = fields.DateTime(attribute="node.created_at")


class GridNodeCreateSchema(Schema):
    parent_id = fields.UUID(allow_none=True, load_default=None,
                            metadata=_d("The parent node; leave out (or null) to add a large grid."))
    level = fields.Integer(strict=True, allow_none=True, validate=validate.Range(LARGE, MICRO),
                           metadata=_d("Optional check: must be the parent's level + 1 (1 without a parent)."))
    name = text(grid.MAX_NAME, required=True, metadata=_d("At most 64 characters, e.g. 官田村大网格."))
    village_id = fields.UUID(allow_none=True, metadata=_d("Tie the node to a village; below a village-tied parent "
                                                          "it is the parent's village and may be left out."))
    group_id = fields.UUID(allow_none=True, metadata=_d("A village group of the node's village."))
    sort_order = _order(allow_none=True, metadata=_d("Smaller first among siblings."))


class GridNodePatchSchema(Schema):
    name = _filled(grid.MAX_NAME, metadata=_d("At most 64 characters, unique among active siblings."))
    sort_order = _order(allow_none=True)
    village_id = fields.UUID(allow_none=True, metadata=_d("Changes only while the node and its subtree hold no "
                                                          "households; the subtree follows."))
    group_id = fields.UUID(allow_none=True)


class GridMoveSchema(Schema):
    parent_id = fields.UUID(required=True, metadata=_d("The new parent, one level above the node and outside its "
                                                       "subtree; refused as a grid loop otherwise."))


class GridTreeArgs(Schema):
    village_id = fields.UUID(metadata=_d("Only nodes of this village."))
    include_retired = fields.Boolean(load_default=False, metadata=_d("Also list retired nodes."))


class GridLevelSchema(Schema):
    level = fields.Integer(required=True, strict=True, validate=validate.Range(LARGE, MICRO))
    name_zh = text(grid.MAX_LEVEL_NAME, required=True, metadata=_d("Chinese name, at most 32 characters, e.g. 大网格."))
    name_en = text(grid.MAX_LEVEL_NAME, required=True,
                   metadata=_d("English name, at most 32 characters, e.g. Large grid."))
    name = fields.String(dump_only=True, metadata=_d("The name in the request's language."))
    is_default = fields.Boolean(dump_only=True, metadata=_d("True while the township uses the default names."))


class VillageGroupSchema(Schema):
    id = fields.UUID(dump_only=True)
    village_id = fields.UUID(required=True, metadata=_d("The village the group belongs to (fixed once created)."))
    name = text(grid.MAX_NAME, required=True, metadata=_d("Unique in the village, at most 64 characters, e.g. 上屋组."))
    sort_order = _order(allow_none=True, metadata=_d("Smaller first; equal values sort by pinyin of name."))
    created_at = fields.DateTime(dump_only=True)


class VillageGroupPatchSchema(Schema):
    name = _filled(grid.MAX_NAME, metadata=_d("Unique in the village, at most 64 characters."))
    sort_order = _order(allow_none=True)


class VillageGroupArgs(Schema):
    village_id = fields.UUID(metadata=_d("Only this village's groups."))


def _one(node) -> dict:
    return grid.describe([node])[0]


@blp.route("/nodes")
class Nodes(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(GridTreeArgs, location="query")
    @blp.response(200, GridNodeSchema(many=True))
    def get(self, args):
        """The nodes in the caller's area in tree order (depth-first, siblings by order then pinyin)."""
        return grid.describe(grid.list_tree(current_actor(), args.get("village_id"), args["include_retired"]))

    @blp.doc(security=SECURITY)
    @blp.arguments(GridNodeCreateSchema)
    @blp.response(201, GridNodeSchema)
    def post(self, data):
        """Add a large grid, or a node one level below its parent."""
        node = grid.create_node(current_actor(), data)
        return _one(node)


@blp.route("/nodes/<uuid:grid_node_id>")
class NodeDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, GridNodeSchema)
    def get(self, grid_node_id):
        return _one(grid.get_node(current_actor(), grid_node_id))

    @blp.doc(security=SECURITY)
    @blp.arguments(GridNodePatchSchema)
    @blp.response(200, GridNodeSchema)
    def patch(self, data, grid_node_id):
        """Rename, reorder, tie to a village or a village group."""
        node = grid.update_node(current_actor(), grid_node_id, data)
        return _one(node)


@blp.route("/nodes/<uuid:grid_node_id>/move")
class NodeMove(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(GridMoveSchema)
    @blp.response(200, GridNodeSchema)
    def post(self, data, grid_node_id):
        """Move the node with its subtree under another node."""
        node = grid.move_node(current_actor(), grid_node_id, data["parent_id"])
        return _one(node)


@blp.route("/nodes/<uuid:grid_node_id>/retire")
class NodeRetire(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, GridNodeSchema)
    def post(self, grid_node_id):
        """Retire the node and its subtree; 409 while active households remain under it."""
        node = grid.retire_node(current_actor(), grid_node_id)
        return _one(node)


@blp.route("/levels")
class Levels(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, GridLevelSchema(many=True))
    def get(self):
        """The four level names (大网格, 中网格, 小网格, 微网格 unless the township renamed them)."""
        return grid.get_levels(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(GridLevelSchema(many=True))
    @blp.response(200, GridLevelSchema(many=True))
    def put(self, data):
        """Rename levels; levels left out keep their names. A name that breaks the document's rules is
        reported under the entry's position (0.name_zh); a name another level has (409), under
        name_zh_<level> / name_en_<level>; a level given twice is a 409 naming levels."""
        levels = grid.set_level_names(current_actor(), data)
        return levels


@blp.route("/groups")
class Groups(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(VillageGroupArgs, location="query")
    @blp.response(200, VillageGroupSchema(many=True))
    def get(self, args):
        """Village groups (村民小组), village by village, by order then pinyin."""
        return grid.list_groups(current_actor(), args.get("village_id"))

    @blp.doc(security=SECURITY)
    @blp.arguments(VillageGroupSchema)
    @blp.response(201, VillageGroupSchema)
    def post(self, data):
        group = grid.create_group(current_actor(), data)
        return group


@blp.route("/groups/<uuid:group_id>")
class GroupDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(VillageGroupPatchSchema)
    @blp.response(200, VillageGroupSchema)
    def patch(self, data, group_id):
        """Rename or reorder a group."""
        group = grid.update_group(current_actor(), group_id, data)
        return group
