import { createRouter, createWebHistory } from 'vue-router'
import { can, loadMe, session } from './api/index.js'

const routes = [
  { path: '/login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  {
    path: '/',
    component: () => import('./views/LayoutView.vue'),
    children: [
      { path: '', component: () => import('./views/work/WorkView.vue') },
      { path: 'overview', component: () => import('./views/DashboardView.vue') },
      { path: 'statistics', component: () => import('./views/statistics/StatisticsView.vue') },
      { path: 'reports', component: () => import('./views/statistics/ReportsView.vue') },
      { path: 'evaluation', component: () => import('./views/statistics/EvaluationView.vue') },
      { path: 'cockpit', component: () => import('./views/statistics/CockpitView.vue') },
      { path: 'requests', component: () => import('./views/requests/RequestsView.vue'), meta: { permission: 'read_requests' } },
      { path: 'grids', component: () => import('./views/grids/GridsView.vue'), meta: { permission: 'dispatch_requests' } },
      { path: 'alarms', component: () => import('./views/alarms/AlarmsView.vue') },
      { path: 'estates', component: () => import('./views/estates/EstateList.vue') },
      { path: 'estates/:id', component: () => import('./views/estates/EstateDetail.vue'), props: true },
      { path: 'import', component: () => import('./views/estates/ImportWizard.vue') },
      { path: 'map', component: () => import('./views/map/MapView.vue') },
      { path: 'ranking', component: () => import('./views/ranking/RankingView.vue') },
      { path: 'plans', component: () => import('./views/plans/PlansView.vue') },
      { path: 'projects', component: () => import('./views/projects/ProjectsView.vue') },
      { path: 'menu', component: () => import('./views/schemes/MenuView.vue') },
      { path: 'checklist', component: () => import('./views/lifecycle/ChecklistView.vue') },
      { path: 'funds', component: () => import('./views/funds/FundsView.vue'), meta: { permission: 'manage_funds' } },
      { path: 'users', component: () => import('./views/users/UserList.vue'), meta: { permission: 'manage_users' } },
      { path: 'audit', component: () => import('./views/audit/AuditLog.vue'), meta: { permission: 'read_audit' } },
    ],
  },
  // The command centre's wall: the cockpit alone, full screen.
  { path: '/screen', component: () => import('./views/statistics/CockpitView.vue') },
  { path: '/:pathMatch(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!session.me) await loadMe()
  if (!session.me) return { path: '/login', query: { next: to.fullPath } }
  // A resident signed in at the desk is taken to the phone pages, where their work is.
  if (session.me.role === 'resident') {
    window.location.assign('/m/')
    return false
  }
  // A page whose every call the role would be refused goes back to the work page instead of showing empty.
  if (to.meta.permission && !can(to.meta.permission)) return { path: '/' }
  return true
})
