//! Who may change what on the node and in a community. Pure functions of the actor and the
//! facts; the service calls them before any write and audits denials.
//!
//! (Who may *read shared content* is the entitlement rule, which lives with the shares.)

use uuid::Uuid;

use crate::model::{Actor, CommunityRole, Membership, Role};

/// Creating organizations and communities, verifying organizations: the node operator.
pub fn can_run_node(actor: &Actor) -> bool {
    actor.is_operator()
}

/// Managing an organization's profile, users and tokens: the node operator, or that
/// organization's admin.
pub fn can_manage_org(actor: &Actor, org: Uuid) -> bool {
    actor.is_operator() || (actor.role == Role::OrgAdmin && actor.org_id == Some(org))
}

/// The role the actor's organization holds in a community, if it is a member.
pub fn role_in(actor: &Actor, memberships: &[Membership]) -> Option<CommunityRole> {
    let org = actor.org_id?;
    memberships.iter().find(|m| m.org_id == org).map(|m| m.role)
}

/// Seeing a community's details and member list: its members and the node operator.
pub fn can_view_community(actor: &Actor, memberships: &[Membership]) -> bool {
    actor.is_operator() || role_in(actor, memberships).is_some()
}

/// Running a community (editing it, managing memberships and roles): the node operator, or a
/// chair's or co-chair's organization admin or analyst.
pub fn can_chair_community(actor: &Actor, memberships: &[Membership]) -> bool {
    actor.is_operator()
        || (matches!(actor.role, Role::OrgAdmin | Role::Analyst)
            && role_in(actor, memberships).is_some_and(CommunityRole::is_chair))
}

/// Publishing shared objects: analysts, admins and node operators of member organizations other
/// than observers.
pub fn can_share(actor: &Actor, memberships: &[Membership]) -> bool {
    !matches!(actor.role, Role::ReadOnly)
        && role_in(actor, memberships).is_some_and(|r| r != CommunityRole::Observer)
}

/// Designating a member organization's representatives: that organization's admin, or the
/// node operator.
pub fn can_designate(actor: &Actor, org: Uuid) -> bool {
    can_manage_org(actor, org)
}

/// Changing a user's role or status: manage the user's organization, and only the node operator
/// gives or takes the node-operator role.
pub fn can_set_role(actor: &Actor, org: Uuid, from: Role, to: Role) -> bool {
    can_manage_org(actor, org)
        && (actor.is_operator() || (from != Role::NodeOperator && to != Role::NodeOperator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts;

    fn actor(role: Role, org: Uuid) -> Actor {
        Actor {
            user_id: Some(Uuid::new_v4()),
            org_id: Some(org),
            role,
            label: "u".into(),
        }
    }

    fn member(community: Uuid, org: Uuid, role: CommunityRole) -> Membership {
        Membership {
            community_id: community,
            org_id: org,
            role,
            joined_at: ts::now(),
        }
    }

    #[test]
    fn org_admin_manages_only_own_org() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(can_manage_org(&actor(Role::OrgAdmin, a), a));
        assert!(!can_manage_org(&actor(Role::OrgAdmin, a), b));
        assert!(!can_manage_org(&actor(Role::Analyst, a), a));
        assert!(can_manage_org(&actor(Role::NodeOperator, b), a));
    }

    #[test]
    fn only_chairs_run_a_community() {
        let c = Uuid::new_v4();
        let (chair, plain) = (Uuid::new_v4(), Uuid::new_v4());
        let ms = vec![
            member(c, chair, CommunityRole::Chair),
            member(c, plain, CommunityRole::Member),
        ];
        assert!(can_chair_community(&actor(Role::Analyst, chair), &ms));
        assert!(!can_chair_community(&actor(Role::ReadOnly, chair), &ms));
        assert!(!can_chair_community(&actor(Role::OrgAdmin, plain), &ms));
        assert!(can_view_community(&actor(Role::ReadOnly, plain), &ms));
        assert!(!can_view_community(
            &actor(Role::OrgAdmin, Uuid::new_v4()),
            &ms
        ));
    }

    #[test]
    fn only_operators_grant_operator() {
        let o = Uuid::new_v4();
        assert!(!can_set_role(
            &actor(Role::OrgAdmin, o),
            o,
            Role::Analyst,
            Role::NodeOperator
        ));
        assert!(can_set_role(
            &actor(Role::OrgAdmin, o),
            o,
            Role::Analyst,
            Role::ReadOnly
        ));
        assert!(can_set_role(
            &actor(Role::NodeOperator, o),
            o,
            Role::Analyst,
            Role::NodeOperator
        ));
    }
}
